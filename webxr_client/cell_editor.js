// Editing a table from the view, in both modes: a tap on a grid cell edits its value or
// formula, a tap on a column header adds a row, a tap on a kanban card moves it to another
// lane (setting its group field), a tap on a lane adds a card to it. Every change goes
// through the REST API with the version of the row it was based on, so when two people edit
// the same row the second is told, shown what is there now, and nothing is overwritten.

import { ApiError } from './api.js';

/**
 * The `ref` of the topmost op of a display list at panel point (x, y), or null: what a
 * grid cell, header, kanban card or lane shows (spatial/render/layout.py).
 */
export function refAt(content, x, y) {
  const ops = content?.ops || [];
  for (let i = ops.length - 1; i >= 0; i -= 1) {
    const op = ops[i];
    if (op.ref && x >= op.x && x <= op.x + op.w && y >= op.y && y <= op.y + op.h) return op.ref;
  }
  return null;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$/;

/** Text as a number the way a spreadsheet reads it (`1,234.5`, `45%`), or null. */
function numberOf(text) {
  const match = /^([+-]?)(\d{1,3}(?:,\d{3})+|\d*)(\.\d*)?(?:[eE]([+-]?\d+))?(%?)$/.exec(text);
  if (!match || (!match[2] && !match[3]) || match[3] === '.') return null;
  const value = Number(`${match[1]}${match[2].replaceAll(',', '')}${match[3] || ''}${match[4] ? `e${match[4]}` : ''}`);
  if (!Number.isFinite(value)) return null;
  return match[5] ? value / 100 : value;
}

/**
 * What typed `text` stores in a cell of `field` (docs/blocks.md): nothing is null, `=...` a
 * formula; a number field a number, a checkbox true or false, an `any` field the kind of
 * value the text spells (a date as {"date": "YYYY-MM-DD"}); other fields the text itself.
 * A value the field does not take is sent as it is, and the server's answer says why.
 */
export function typedValue(text, field) {
  const trimmed = text.trim();
  if (!trimmed) return null;
  if (trimmed.startsWith('=')) return trimmed;
  const upper = trimmed.toUpperCase();
  if (field.type === 'checkbox' && ['TRUE', 'FALSE', 'YES', 'NO'].includes(upper)) return upper === 'TRUE' || upper === 'YES';
  if (field.type === 'number') return numberOf(trimmed) ?? trimmed;
  if (field.type === 'any') {
    if (upper === 'TRUE' || upper === 'FALSE') return upper === 'TRUE';
    const number = numberOf(trimmed);
    if (number !== null) return number;
    if (ISO_DATE.test(trimmed)) return { date: trimmed };
  }
  return text;
}

/** A stored cell as the text to edit: formulas as written, logicals TRUE or FALSE, dates YYYY-MM-DD. */
export function cellText(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'object' && 'date' in value) return value.date;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const $ = (id) => document.getElementById(id);

export class CellEditor {
  /** `api`: the REST client; `onChange()`: a change was saved (the overlay follows by the stream). */
  constructor(api, onChange = () => {}) {
    this.api = api;
    this.onChange = onChange;
    this.target = null; // {mode: 'cell' | 'row' | 'card' | 'lane', tableId, fields, view, ref, row}
    this.last = null; // what the latest saved change did
    this.el = {
      form: $('cell-editor'), title: $('cell-editor-title'), shows: $('cell-editor-shows'),
      input: $('cell-input'), options: $('cell-options'), lanes: $('cell-lanes'),
      save: $('cell-save'), addRow: $('cell-add-row'), message: $('cell-message'),
    };
    this.el.form.addEventListener('submit', (event) => { event.preventDefault(); this._save(); });
    $('cell-cancel').addEventListener('click', () => this.close());
    this.el.addRow.addEventListener('click', () => this._addRow());
  }

  get isOpen() {
    return !this.el.form.hidden;
  }

  /** State for the tests and the status line. */
  snapshot() {
    const t = this.target;
    return {
      open: this.isOpen, last: this.last, message: this.el.message.textContent,
      conflict: this.el.message.dataset.conflict === '1',
      target: t && { mode: t.mode, tableId: t.tableId, rowId: t.row?.id ?? null, field: t.field?.name ?? null,
        version: t.row?.version ?? null },
    };
  }

  /** Open the editor for what `ref` names on the panel of `overlay` (a table or a view of one). */
  async open(overlay, ref) {
    try {
      const block = await this.api.readBlock(overlay.block_id);
      const view = block.kind === 'view' ? block.content : null;
      const tableId = view ? view.table : block.id;
      const table = await this.api.table(tableId);
      const target = { tableId, view, ref, fields: table.fields, title: block.title };
      if (ref.lane !== undefined && ref.row === undefined) target.mode = 'lane';
      else if (ref.lane !== undefined) target.mode = 'card';
      else target.mode = ref.row === undefined ? 'row' : 'cell';
      if (ref.row !== undefined) {
        target.row = table.rows.find((r) => r.id === ref.row);
        if (!target.row) throw new Error('that row is gone; the panel will catch up');
      }
      target.field = this._field(target);
      this.target = target;
      this._render();
    } catch (err) {
      this.target = null;
      this.el.title.textContent = 'Cannot edit this';
      this.el.shows.textContent = '';
      for (const element of [this.el.input, this.el.save, this.el.addRow]) element.hidden = true;
      this.el.lanes.replaceChildren();
      this._show();
      this._fail(err);
    }
  }

  close() {
    this.el.form.hidden = true;
    this.target = null;
    this._say('');
  }

  /** The field being edited: the cell's; for a new row the header's; for a card or lane the title field. */
  _field(target) {
    const byName = (name) => target.fields.find((f) => f.name === name);
    if (target.ref.field !== undefined) return byName(target.ref.field);
    if (target.mode === 'lane') {
      const visible = target.view?.fields || target.fields.map((f) => f.name);
      return byName(visible.find((name) => name !== target.view?.group_by) || visible[0]);
    }
    return byName(target.view?.group_by);
  }

  _render() {
    const { mode, field, row, title } = this.target;
    const { input, shows, lanes, save, addRow } = this.el;
    lanes.replaceChildren();
    this._say('');
    const where = title || 'table';
    if (mode === 'cell') {
      this.el.title.textContent = `${where} · ${field.name}`;
      shows.textContent = this._shown(row, field);
      input.value = cellText(row.cells[field.name] ?? null);
      input.placeholder = 'a value, or a formula such as =SUM(B1:B3)';
    } else if (mode === 'row') {
      this.el.title.textContent = `${where} · new row`;
      shows.textContent = `${field.name} of the new row`;
      input.value = '';
      input.placeholder = field.name;
    } else if (mode === 'lane') {
      this.el.title.textContent = `${where} · new card in ${this.target.ref.lane}`;
      shows.textContent = field.name;
      input.value = '';
      input.placeholder = field.name;
    } else {
      this.el.title.textContent = `${where} · move card`;
      shows.textContent = `in ${this.target.ref.lane}; move it to:`;
      for (const lane of field.options || []) {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = lane;
        button.dataset.lane = lane;
        button.disabled = lane === this.target.ref.lane;
        button.addEventListener('click', () => this._move(lane));
        lanes.append(button);
      }
    }
    this._offerOptions(field);
    input.hidden = mode === 'card';
    save.hidden = mode === 'card';
    addRow.hidden = mode !== 'cell';
    this._show();
    if (mode !== 'card') input.focus();
  }

  /** What the cell shows now: its value, or its error and why. */
  _shown(row, field) {
    const error = row.errors?.[field.name];
    if (error) return `shows ${error.code}: ${error.message}`;
    const value = row.values?.[field.name];
    return `shows ${cellText(value ?? null) || '(empty)'}`;
  }

  /** A select field's options (and a checkbox's values) to pick from while typing. */
  _offerOptions(field) {
    const choices = field?.type === 'select' ? field.options : field?.type === 'checkbox' ? ['TRUE', 'FALSE'] : [];
    this.el.options.replaceChildren(...choices.map((choice) => new Option(choice)));
  }

  _show() {
    this.el.form.hidden = false;
  }

  async _save() {
    const target = this.target;
    if (!target) return;
    const value = typedValue(this.el.input.value, target.field);
    try {
      if (target.mode === 'cell') {
        const saved = await this.api.setCells(target.tableId, target.row.id, { [target.field.name]: value }, target.row.version);
        target.row = { ...target.row, version: saved.version, cells: saved.content.cells };
        this._done(`saved ${target.field.name}`);
      } else {
        const cells = { [target.field.name]: value };
        if (target.mode === 'lane') cells[target.view.group_by] = target.ref.lane;
        await this.api.addRows(target.tableId, [cells]);
        this._done(target.mode === 'lane' ? `added a card to ${target.ref.lane}` : 'added a row');
      }
    } catch (err) {
      await this._failed(err);
    }
  }

  /** A new row under the table, then the editor on its cell of the field being edited. */
  async _addRow() {
    const target = this.target;
    try {
      const [row] = await this.api.addRows(target.tableId, [{}]);
      target.row = { id: row.id, version: row.version, cells: {}, values: {}, errors: {} };
      target.ref = { row: row.id, field: target.field.name };
      this.onChange();
      this._render();
      this._say('added a row: type its first cell');
    } catch (err) {
      this._fail(err);
    }
  }

  async _move(lane) {
    const target = this.target;
    try {
      await this.api.setCells(target.tableId, target.row.id, { [target.field.name]: lane }, target.row.version);
      this._done(`moved to ${lane}`);
    } catch (err) {
      await this._failed(err);
    }
  }

  _done(text) {
    this.last = text;
    this.onChange();
    this.close();
  }

  /**
   * A refused edit: on a version conflict, load the row as it is now and say what it holds;
   * what was typed stays in the editor, so saving again replaces it knowingly.
   */
  async _failed(err) {
    if (!(err instanceof ApiError && err.code === 'version_conflict')) {
      this._fail(err);
      return;
    }
    const target = this.target;
    try {
      const table = await this.api.table(target.tableId);
      const row = table.rows.find((r) => r.id === target.row.id);
      if (!row) throw new Error('someone removed this row meanwhile');
      target.row = row;
      const now = cellText(row.cells[target.field.name] ?? null) || '(empty)';
      this._fail(new Error(`someone else changed this row meanwhile: ${target.field.name} now holds ${now}. `
        + 'Your edit was not saved; save again to replace it.'));
      this.el.message.dataset.conflict = '1';
    } catch (reloadErr) {
      this._fail(reloadErr);
    }
  }

  _say(text) {
    this.el.message.textContent = text;
    this.el.message.classList.remove('error');
    delete this.el.message.dataset.conflict;
  }

  _fail(err) {
    this.el.message.textContent = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err.message || err);
    this.el.message.classList.add('error');
  }
}
