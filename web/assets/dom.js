// DOM helpers. Data only ever reaches the page as text nodes or attribute
// values set through the DOM API: never through innerHTML.

export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') element.className = value;
    else if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

// A link inside the UI; `path` is built by us, ids are URL-encoded.
export function link(path, ...children) {
  return h('a', { href: path }, ...children);
}

export function reviewPath(id) {
  return '/ui/reviews/' + encodeURIComponent(id);
}

// 95000 -> "1m 35s"; coarse for long spans.
export function duration(ms) {
  const negative = ms < 0;
  let seconds = Math.floor(Math.abs(ms) / 1000);
  const days = Math.floor(seconds / 86400);
  seconds -= days * 86400;
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  let text;
  if (days) text = `${days}d ${hours}h`;
  else if (hours) text = `${hours}h ${minutes}m`;
  else if (minutes) text = `${minutes}m ${seconds}s`;
  else text = `${seconds}s`;
  return negative ? '-' + text : text;
}

export function when(ms) {
  if (!ms) return '';
  const date = new Date(ms);
  return date.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

export function timeElement(ms) {
  if (!ms) return '—';
  return h('time', { datetime: new Date(ms).toISOString(), title: new Date(ms).toISOString() }, when(ms));
}

// Values the gateway masked: [REDACTED], [EMAIL], [EMAIL:3f2a9c1b04de],
// [PRIVATE KEY], ****4242.
const MASKED = /(\[[A-Z][A-Z0-9 _-]*(?::[0-9a-f]{6,64})?\]|\*{4}[0-9]{4})/g;

// Text with masked findings wrapped in <mark class="masked">.
export function maskedText(text) {
  const out = [];
  let last = 0;
  const value = String(text);
  for (const match of value.matchAll(MASKED)) {
    if (match.index > last) out.push(value.slice(last, match.index));
    out.push(h('mark', { class: 'masked', title: 'masked by countersign: the real value is never shown' }, match[0]));
    last = match.index + match[0].length;
  }
  if (last < value.length) out.push(value.slice(last));
  return out;
}

// A JSON value as a readable, collapsible-free tree (nested lists).
export function jsonTree(value) {
  if (value === null) return h('span', { class: 'j-null' }, 'null');
  if (Array.isArray(value)) {
    if (value.length === 0) return h('span', { class: 'j-empty' }, '[ ]');
    return h('ol', { class: 'tree', start: 0 },
      value.map((item) => h('li', null, jsonTree(item))));
  }
  if (typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) return h('span', { class: 'j-empty' }, '{ }');
    return h('ul', { class: 'tree' }, keys.map((key) => h('li', null,
      h('span', { class: 'j-key' }, key), h('span', { class: 'j-colon' }, ': '), jsonTree(value[key]))));
  }
  if (typeof value === 'string') return h('span', { class: 'j-string' }, maskedText(value));
  if (typeof value === 'number') return h('span', { class: 'j-number' }, String(value));
  if (typeof value === 'boolean') return h('span', { class: 'j-bool' }, String(value));
  return h('span', null, String(value));
}

export function stateBadge(state) {
  return h('span', { class: 'badge state-' + state }, state);
}

export function errorBox(error) {
  return h('div', { class: 'alert', role: 'alert' }, error && error.message ? error.message : String(error));
}

let announcer = null;
export function announce(text) {
  announcer = announcer || document.getElementById('announce');
  if (!announcer) return;
  announcer.textContent = '';
  // A tick later, so screen readers notice a repeated message.
  setTimeout(() => { announcer.textContent = text; }, 50);
}
