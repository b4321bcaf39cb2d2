// The access token: from the address's `#token=` fragment (which browsers never send to
// the server), remembered in localStorage, and removed from the visible address.

export const TOKEN_KEY = 'spatial.token';

/** The `#token=...` fragment, remembered and removed from the visible URL; null without one. */
export function takeTokenFromUrl() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (!fromHash) return null;
  localStorage.setItem(TOKEN_KEY, fromHash);
  history.replaceState(null, '', location.pathname + location.search);
  return fromHash;
}

/** The token of the address, else the one this browser signed in with; null when neither. */
export function currentToken() {
  return takeTokenFromUrl() || localStorage.getItem(TOKEN_KEY);
}
