// The REST API (docs/api.md), the same one developers use.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** An object id as a path: each segment escaped, the slashes kept (`marker:aruco/7`). */
export function objectPath(objectId) {
  return objectId.split('/').map(encodeURIComponent).join('/');
}

export class Api {
  /** `token()` returns the current access token. */
  constructor(token, base = '/v1') {
    this.token = token;
    this.base = base;
  }

  /** `body` goes as JSON, or as it is with `contentType`. */
  async request(method, path, body, contentType = null) {
    const headers = { Authorization: `Bearer ${this.token()}` };
    if (body !== undefined) headers['Content-Type'] = contentType || 'application/json';
    const response = await fetch(this.base + path, {
      method, headers, body: body === undefined || contentType ? body : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const error = data?.error || {};
      throw new ApiError(response.status, error.code || 'http_error', error.message || `${method} ${path}: ${response.status}`);
    }
    return data;
  }

  /** [{anchor, block}] attached to `objectId` (an object id or `class:<label>`) that you may see. */
  attached(objectId) {
    return this.request('GET', `/objects/${objectPath(objectId)}/anchors`);
  }

  createBlock(kind, title, content) {
    return this.request('POST', '/blocks', { kind, title, content });
  }

  readBlock(blockId) {
    return this.request('GET', `/blocks/${encodeURIComponent(blockId)}`);
  }

  updateBlock(blockId, patch) {
    return this.request('PATCH', `/blocks/${encodeURIComponent(blockId)}`, patch);
  }

  /** A table's fields and rows: each row's id, version, stored cells, computed values and errors. */
  table(tableId) {
    return this.request('GET', `/tables/${encodeURIComponent(tableId)}`);
  }

  /** A new table from cells copied from a spreadsheet: tab-separated, the first row naming the fields. */
  importPasted(text, title) {
    return this.request('POST', `/tables/import?title=${encodeURIComponent(title)}`, text, 'text/tab-separated-values');
  }

  /** Add rows (objects of field name to cell) at the end of a table; returns the new row blocks. */
  addRows(tableId, rows) {
    return this.request('POST', `/tables/${encodeURIComponent(tableId)}/rows`, { rows });
  }

  /** Set some cells of a row; refused with `version_conflict` (409) if the row moved on from `version`. */
  setCells(tableId, rowId, cells, version) {
    return this.request('PATCH', `/tables/${encodeURIComponent(tableId)}/rows/${encodeURIComponent(rowId)}`, { cells, version });
  }

  attach(objectId, blockId) {
    return this.request('POST', `/objects/${objectPath(objectId)}/anchors`, { block_id: blockId });
  }

  detach(anchorId) {
    return this.request('DELETE', `/anchors/${encodeURIComponent(anchorId)}`);
  }

  /** A new token for another device, with the links (and their QR codes) that carry it there. */
  join(device) {
    return this.request('POST', '/join', { device });
  }
}
