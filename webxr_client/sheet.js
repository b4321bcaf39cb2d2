// Acting from inside the view: the sheet for a tapped object lists what is
// attached to it (to this object and to its whole class), attaches new blocks,
// edits a note's text and detaches, all through the REST API.

import { ApiError } from './api.js';

export const LAYOUTS = ['grid', 'kanban', 'wiki', 'list']; // the views of a table (docs/blocks.md)
const KANBAN_LANES = ['To do', 'Doing', 'Done'];

/**
 * What "attach a …" creates: `create(api, title, text)` makes the blocks and
 * returns the one to pin. The text is the note, or the first row or card.
 */
export const TEMPLATES = {
  note: {
    title: 'Note',
    create: (api, title, text) => api.createBlock('markdown', title, text),
  },
  table: {
    title: 'Table',
    // Cells pasted from a spreadsheet (tab-separated) become the table, keeping their values.
    create: (api, title, text) => (text.includes('\t') ? api.importPasted(text, title) : api.createBlock('table', title, {
      fields: [{ name: 'item', type: 'text' }, { name: 'qty', type: 'number' }],
      rows: text ? [{ item: text, qty: 1 }] : [],
    })),
  },
  kanban: {
    title: 'Board',
    create: async (api, title, text) => {
      const table = await api.createBlock('table', title, {
        fields: [{ name: 'task', type: 'text' }, { name: 'status', type: 'select', options: KANBAN_LANES }],
        rows: text ? [{ task: text, status: KANBAN_LANES[0] }] : [],
      });
      return api.createBlock('view', title, { table: table.id, layout: 'kanban', group_by: 'status' });
    },
  },
};

const $ = (id) => document.getElementById(id);

export class ObjectSheet {
  /**
   * `api`: the REST client; `onChange(objectId)`: the sheet opened, closed (null) or changed something;
   * `onPlace(block)`: where given (a page in a space), each block gets a "Place" button choosing it for taps to place.
   */
  constructor(api, onChange = () => {}, onPlace = null) {
    this.api = api;
    this.onChange = onChange;
    this.onPlace = onPlace;
    this.objectId = null;
    this.label = null;
    this.items = []; // [{anchor, block, scope}]
    this.editing = null; // the block whose text is being edited
    this.el = {
      sheet: $('sheet'), title: $('sheet-title'), subtitle: $('sheet-class'), list: $('sheet-blocks'),
      attach: $('attach-form'), scopeClass: $('scope-class-label'), text: $('attach-text'),
      edit: $('edit-form'), editText: $('edit-text'), editTitle: $('edit-title'),
      message: $('sheet-message'),
    };
    $('sheet-close').addEventListener('click', () => this.close());
    this.el.attach.addEventListener('submit', (event) => this._onAttach(event));
    this.el.attach.addEventListener('change', () => this._syncKind());
    this.el.edit.addEventListener('submit', (event) => this._onSaveEdit(event));
    $('edit-cancel').addEventListener('click', () => this._showEdit(null));
    this._syncKind();
  }

  get isOpen() {
    return !this.el.sheet.hidden;
  }

  async open(objectId, label) {
    this.objectId = objectId;
    this.label = label || null;
    this.el.title.textContent = objectId;
    this.el.subtitle.textContent = label ? `class: ${label}` : '';
    this.el.scopeClass.textContent = label ? `every ${label}` : 'every object of its class';
    this.el.attach.elements.scope.value = 'object';
    this.el.attach.querySelector('input[value="class"]').disabled = !label;
    this._showEdit(null);
    this._say('');
    this.el.sheet.hidden = false;
    this.onChange(objectId);
    await this.refresh();
  }

  close() {
    this.el.sheet.hidden = true;
    this.objectId = null;
    this.onChange(null);
  }

  /** Reload what is attached to the object and to its class. */
  async refresh() {
    const objectId = this.objectId;
    if (!objectId) return;
    try {
      const own = (await this.api.attached(objectId)).map((item) => ({ ...item, scope: 'object' }));
      const shared = this.label
        ? (await this.api.attached(`class:${this.label}`)).map((item) => ({ ...item, scope: 'class' }))
        : [];
      if (objectId !== this.objectId) return; // another object was opened meanwhile
      this.items = [...own, ...shared];
      this._renderList();
    } catch (err) {
      this._fail(err);
    }
  }

  _renderList() {
    const { list } = this.el;
    list.replaceChildren();
    if (!this.items.length) {
      const empty = document.createElement('li');
      empty.className = 'empty';
      empty.textContent = 'Nothing attached yet.';
      list.append(empty);
    }
    for (const item of this.items) {
      const li = document.createElement('li');
      li.dataset.blockId = item.block.id;
      li.dataset.anchorId = item.anchor.id;
      const name = document.createElement('span');
      name.className = 'block-name';
      name.textContent = item.block.title || '(untitled)';
      const meta = document.createElement('span');
      meta.className = 'block-meta';
      meta.textContent = `${item.block.kind}${item.scope === 'class' ? ` · every ${this.label}` : ''}`;
      li.append(name, meta);
      if (item.block.kind === 'markdown') li.append(this._button('Edit', 'edit', () => this._showEdit(item.block)));
      if (item.block.kind === 'table' || item.block.kind === 'view') li.append(this._layoutChoice(item));
      li.append(this._button('Detach', 'detach', () => this._detach(item)));
      if (this.onPlace) li.append(this._button('Place', 'place', () => this._choose(item.block)));
      list.append(li);
    }
  }

  _button(text, action, onClick) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = text;
    button.dataset.action = action;
    button.addEventListener('click', onClick);
    return button;
  }

  /** A menu of the table views; choosing one switches how the block is shown. */
  _layoutChoice(item) {
    const select = document.createElement('select');
    select.dataset.action = 'layout';
    select.setAttribute('aria-label', 'Show as');
    const current = item.block.kind === 'view' ? item.block.content.layout : 'grid';
    for (const layout of LAYOUTS) select.add(new Option(layout, layout, false, layout === current));
    select.addEventListener('change', () => this._switchLayout(item, select.value));
    return select;
  }

  /**
   * Show a block as another view: a view block gets the new layout; a table is
   * replaced on its object by a new view of it with that layout.
   */
  async _switchLayout(item, layout) {
    const { block, anchor } = item;
    try {
      const table = block.kind === 'view' ? block.content.table : block.id;
      const spec = block.kind === 'view' ? { ...block.content, layout } : { table, layout };
      if (layout === 'kanban' && !spec.group_by) spec.group_by = await this._selectField(table);
      if (block.kind === 'view') {
        await this.api.updateBlock(block.id, { content: spec, version: block.version });
      } else if (layout !== 'grid') {
        const view = await this.api.createBlock('view', block.title, spec);
        await this.api.attach(anchor.object_id, view.id);
        await this.api.detach(anchor.id);
      }
      this._say(`“${block.title}” shown as ${layout}`);
      this.onChange(this.objectId);
      await this.refresh();
    } catch (err) {
      this._fail(err);
      await this.refresh();
    }
  }

  /** The first select field of a table: a kanban's lanes. */
  async _selectField(tableId) {
    const { fields } = await this.api.table(tableId);
    const select = fields.find((f) => f.type === 'select');
    if (!select) throw new Error('a kanban needs a select field in the table for its lanes');
    return select.name;
  }

  _syncKind() {
    const kind = this.el.attach.elements.kind.value;
    this.el.text.placeholder = { note: 'Text', table: 'First item, or cells pasted from a spreadsheet', kanban: 'First card' }[kind];
    this.el.text.required = kind === 'note';
  }

  async _onAttach(event) {
    event.preventDefault();
    const form = this.el.attach.elements;
    const template = TEMPLATES[form.kind.value];
    const target = form.scope.value === 'class' && this.label ? `class:${this.label}` : this.objectId;
    const title = form.title.value.trim() || template.title;
    this._say('attaching…');
    try {
      const block = await template.create(this.api, title, form.text.value.trim());
      await this.api.attach(target, block.id);
      form.title.value = '';
      form.text.value = '';
      this._say(`attached “${title}”`);
      this.onChange(this.objectId);
      await this.refresh();
    } catch (err) {
      this._fail(err);
    }
  }

  /** Choose a block for placing in the space: the next tap on nothing in AR puts it there. */
  _choose(block) {
    this.onPlace(block);
    this._say(`tap where “${block.title || '(untitled)'}” should go`);
  }

  _showEdit(block) {
    this.editing = block;
    this.el.edit.hidden = !block;
    this.el.attach.hidden = Boolean(block);
    if (block) {
      this.el.editTitle.textContent = `Edit “${block.title || '(untitled)'}”`;
      this.el.editText.value = block.content;
      this.el.editText.focus();
    }
  }

  async _onSaveEdit(event) {
    event.preventDefault();
    const block = this.editing;
    if (!block) return;
    try {
      await this.api.updateBlock(block.id, { content: this.el.editText.value, version: block.version });
      this._showEdit(null);
      this._say(`saved “${block.title}”`);
      this.onChange(this.objectId);
      await this.refresh();
    } catch (err) {
      if (err instanceof ApiError && err.code === 'version_conflict') {
        this._say('someone changed it meanwhile: here is the new text');
        this._showEdit(await this.api.readBlock(block.id));
      } else {
        this._fail(err);
      }
    }
  }

  async _detach(item) {
    try {
      await this.api.detach(item.anchor.id);
      this._say(`detached “${item.block.title}”`);
      this.onChange(this.objectId);
      await this.refresh();
    } catch (err) {
      this._fail(err);
    }
  }

  _say(text) {
    this.el.message.textContent = text;
    this.el.message.classList.remove('error');
  }

  _fail(err) {
    this.el.message.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err.message || err);
    this.el.message.classList.add('error');
  }
}
