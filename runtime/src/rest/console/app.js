// Ferry's web console: a client of the worker's public REST API, no framework and no build
// step. Every value from the API goes into the page as text, never as markup.
'use strict';

const REFRESH_MS = 2000;
const ROLES = ['viewer', 'operator', 'admin'];
// Five minutes of REFRESH_MS samples.
const HISTORY = (5 * 60 * 1000) / REFRESH_MS;

const session = {
  authorization: sessionStorage.getItem('ferry.authorization'),
  me: null,
  // connector -> {records, at} from the last /metrics read, for records/s.
  counters: new Map(),
  rates: new Map(),
  // connector -> the last HISTORY records/s figures, for its sparkline.
  history: new Map(),
  timer: null,
};

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// h('td', {class: 'x'}, 'text', child): an element; strings become text nodes.
function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function setConnection(online) {
  const banner = document.getElementById('connection');
  banner.textContent = online ? '' : 'Connection to the worker lost; retrying…';
  banner.className = online ? '' : 'offline';
}

async function api(method, path, body) {
  const headers = { 'X-Ferry-Console': '1', Accept: 'application/json' };
  if (session.authorization) headers.Authorization = session.authorization;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    setConnection(false);
    throw new ApiError(0, 'The worker cannot be reached');
  }
  setConnection(true);
  const text = await response.text();
  const json = (response.headers.get('content-type') || '').startsWith('application/json');
  const data = text && json ? JSON.parse(text) : text;
  if (response.status === 401) {
    showLogin(session.authorization ? 'Wrong credentials.' : '');
    throw new ApiError(401, 'Authentication required');
  }
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.message) || response.statusText);
  }
  return data;
}

function may(role) {
  return session.me && ROLES.indexOf(session.me.role) >= ROLES.indexOf(role);
}

function stateBadge(state) {
  return h('span', { class: `state state-${state}` }, state);
}

function feedback(message, isError) {
  const line = document.getElementById('feedback');
  if (!line) return;
  line.textContent = message;
  line.className = isError ? 'error' : '';
}

function main(...children) {
  const element = document.getElementById('main');
  // The control that had the focus gets it back in the new page (keyboard users stay put).
  const focused = document.activeElement && document.activeElement.dataset.action;
  element.replaceChildren(...children.filter((child) => child !== null && child !== undefined));
  if (focused) {
    const again = element.querySelector(`[data-action="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

// Re-renders only when what the page shows changed; the records/s figures are updated in place.
function unchanged(page, data) {
  const key = JSON.stringify([page, data, session.me && session.me.role]);
  if (session.shown === key) return true;
  session.shown = key;
  return false;
}

function updateRates() {
  for (const cell of document.querySelectorAll('[data-rate]')) cell.textContent = rate(cell.dataset.rate);
  updateSparklines();
}

// ---------------------------------------------------------------- login --

function showLogin(message) {
  stopRefresh();
  session.me = null;
  // Several calls may be refused at once: one form, whatever the user already typed kept.
  if (document.getElementById('login-user')) {
    if (message) feedback(message, true);
    return;
  }
  document.getElementById('identity').replaceChildren();
  const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true });
  const password = h('input', {
    id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const form = h('form', { class: 'login', 'aria-label': 'Sign in' },
    h('label', { for: 'login-user' }, 'User'), user,
    h('label', { for: 'login-password' }, 'Password'), password,
    h('button', { type: 'submit', id: 'login-submit' }, 'Sign in'),
    h('p', { id: 'feedback', role: 'status', class: message ? 'error' : '' }, message));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    session.authorization = `Basic ${btoa(unescape(encodeURIComponent(`${user.value}:${password.value}`)))}`;
    sessionStorage.setItem('ferry.authorization', session.authorization);
    start();
  });
  session.shown = null;
  main(h('h1', {}, 'Sign in to this worker'), form);
  user.focus();
}

function signOut() {
  session.authorization = null;
  sessionStorage.removeItem('ferry.authorization');
  showLogin('');
}

function showIdentity() {
  const identity = document.getElementById('identity');
  const me = session.me;
  identity.replaceChildren(
    h('span', { id: 'whoami' }, me.user ? `${me.user} (${me.role})` : 'no authentication'),
    me.authentication ? h('button', { type: 'button', onclick: signOut, style: 'margin-left:.6rem' }, 'Sign out') : null,
  );
}

// -------------------------------------------------------------- metrics --

// Records per second per connector, from the counters of this worker's /metrics.
async function readRates() {
  let text;
  try {
    text = await api('GET', '/metrics');
  } catch (error) {
    return;
  }
  const now = Date.now();
  const totals = new Map();
  // This worker's view of its cluster (distributed mode only).
  const gauge = (name) => {
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(String(text));
    return match ? Number(match[1]) : undefined;
  };
  session.cluster = gauge('ferry_cluster_members') === undefined ? null : {
    leader: gauge('ferry_cluster_leader') === 1,
    generation: gauge('ferry_cluster_assignment_generation'),
    members: gauge('ferry_cluster_members'),
  };
  const pattern = /^ferry_(?:source_records_written|sink_records_put)_total\{([^}]*)\} (\S+)$/;
  for (const line of String(text).split('\n')) {
    const match = pattern.exec(line);
    if (!match) continue;
    const connector = /connector="((?:[^"\\]|\\.)*)"/.exec(match[1]);
    if (!connector) continue;
    const name = connector[1].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    totals.set(name, (totals.get(name) || 0) + Number(match[2]));
  }
  for (const [name, records] of totals) {
    const last = session.counters.get(name);
    if (last && now > last.at) {
      const value = Math.max(0, ((records - last.records) * 1000) / (now - last.at));
      session.rates.set(name, value);
      const history = session.history.get(name) || [];
      history.push(value);
      if (history.length > HISTORY) history.shift();
      session.history.set(name, history);
    }
    session.counters.set(name, { records, at: now });
  }
}

// An inline SVG line of the last five minutes of records/s.
function sparkline(name) {
  const history = session.history.get(name) || [];
  const width = 120;
  const height = 24;
  const top = Math.max(1, ...history);
  const points = history.map((value, index) => {
    const x = history.length > 1 ? (index * width) / (HISTORY - 1) : 0;
    return `${x.toFixed(1)},${(height - (value / top) * (height - 2) - 1).toFixed(1)}`;
  }).join(' ');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `records/s over the last 5 minutes, up to ${top.toFixed(1)}`);
  svg.setAttribute('data-sparkline', name);
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', points);
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', 'currentColor');
  svg.append(line);
  return svg;
}

function updateSparklines() {
  for (const old of document.querySelectorAll('[data-sparkline]')) old.replaceWith(sparkline(old.dataset.sparkline));
}

function rate(name) {
  const value = session.rates.get(name);
  return value === undefined ? '–' : value.toFixed(1);
}

// ------------------------------------------------------------- overview --

function taskCounts(status) {
  const counts = { RUNNING: 0, FAILED: 0, PAUSED: 0 };
  for (const task of status.tasks || []) counts[task.state] = (counts[task.state] || 0) + 1;
  return `${counts.RUNNING} running, ${counts.FAILED} failed, ${counts.PAUSED} paused of ${(status.tasks || []).length}`;
}

function lastError(status) {
  const failed = [status.connector, ...(status.tasks || [])].find((s) => s && s.trace);
  return failed ? failed.trace.split('\n')[0] : '';
}

async function renderOverview() {
  const [connectors] = await Promise.all([
    api('GET', '/connectors?expand=status&expand=info'),
    readRates(),
  ]);
  if (unchanged('overview', [connectors, session.cluster])) {
    updateRates();
    return;
  }
  const names = Object.keys(connectors).sort();
  const workers = new Map();
  const rows = names.map((name) => {
    const { status, info } = connectors[name];
    for (const task of (status && status.tasks) || []) {
      if (!workers.has(task.worker_id)) workers.set(task.worker_id, []);
      workers.get(task.worker_id).push(`${name}-${task.id}`);
    }
    if (status && !workers.has(status.connector.worker_id)) workers.set(status.connector.worker_id, []);
    return h('tr', { 'data-connector': name },
      h('td', {}, h('a', { href: `#/connectors/${encodeURIComponent(name)}` }, name)),
      h('td', {}, info ? info.type : ''),
      h('td', {}, info ? info.config['connector.class'] : ''),
      h('td', {}, status ? stateBadge(status.connector.state) : ''),
      h('td', {}, status ? taskCounts(status) : ''),
      h('td', { class: 'rate', 'data-rate': name }, rate(name)),
      h('td', { class: 'spark' }, sparkline(name)),
      h('td', { class: 'muted' }, status ? lastError(status) : ''));
  });
  main(
    h('h1', {}, 'Connectors'),
    may('admin') ? h('p', {}, h('a', { href: '#/new', id: 'new-connector' }, 'New connector')) : null,
    rows.length
      ? h('table', { id: 'connectors' },
        h('thead', {}, h('tr', {}, ['Name', 'Type', 'Plugin', 'State', 'Tasks', 'Records/s', 'Last 5 min', 'Last error'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'No connectors yet.'),
    h('h2', {}, 'Workers'),
    h('p', { id: 'cluster', class: 'muted' }, session.cluster
      ? `Distributed: ${session.cluster.members} workers in assignment generation ${session.cluster.generation}; the worker serving this page ${session.cluster.leader ? 'is' : 'is not'} the leader.`
      : 'Standalone worker.'),
    h('table', { id: 'workers' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Worker'), h('th', { scope: 'col' }, 'Tasks'))),
      h('tbody', {}, [...workers.keys()].sort().map((worker) => h('tr', { 'data-worker': worker },
        h('td', {}, worker), h('td', {}, workers.get(worker).sort().join(', ') || '–'))))),
  );
}

// ------------------------------------------------------------ connector --

function actionButton(label, role, run, options) {
  if (!may(role)) return null;
  return h('button', {
    type: 'button',
    class: options && options.danger ? 'danger' : null,
    'data-action': label,
    onclick: async () => {
      if (options && options.confirm && !window.confirm(options.confirm)) return;
      try {
        await run();
        feedback(`${label}: done`, false);
        refresh();
      } catch (error) {
        if (error.status !== 401) feedback(`${label}: ${error.message}`, true);
      }
    },
  }, label);
}

async function renderConnector(name) {
  const path = `/connectors/${encodeURIComponent(name)}`;
  let status;
  let info;
  let offsets;
  let topics;
  try {
    [status, info, offsets, topics] = await Promise.all([api('GET', `${path}/status`), api('GET', path),
      api('GET', `${path}/offsets`).catch((error) => ({ error: error.message })),
      api('GET', `${path}/topics`).catch(() => ({})), readRates()]);
  } catch (error) {
    if (error.status === 404) {
      session.shown = null;
      main(h('h1', {}, name), h('p', { id: 'feedback', role: 'status' }, 'This connector does not exist (any more).'),
        h('a', { href: '#/' }, 'Back to the connectors'));
      return;
    }
    throw error;
  }
  if (unchanged(`connector:${name}`, [status, info, offsets, topics])) {
    updateRates();
    return;
  }
  const previous = document.getElementById('feedback');
  const message = previous && previous.dataset.connector === name ? previous : null;
  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Connector actions' },
    actionButton('Pause', 'operator', () => api('PUT', `${path}/pause`)),
    actionButton('Resume', 'operator', () => api('PUT', `${path}/resume`)),
    actionButton('Stop', 'operator', () => api('PUT', `${path}/stop`)),
    actionButton('Restart', 'operator', () => api('POST', `${path}/restart`)),
    actionButton('Restart all tasks', 'operator', () => api('POST', `${path}/restart?includeTasks=true`)),
    actionButton('Restart failed tasks', 'operator', () => api('POST', `${path}/restart?includeTasks=true&onlyFailed=true`)),
    may('admin') ? h('a', { href: `#/connectors/${encodeURIComponent(name)}/edit`, id: 'edit-connector' }, 'Edit config') : null,
    actionButton('Reset offsets', 'admin', () => api('DELETE', `${path}/offsets`), { confirm: `Reset the offsets of ${name}? It must be STOPPED.`, danger: true }),
    actionButton('Delete', 'admin', async () => {
      await api('DELETE', path);
      location.hash = '#/';
    }, { confirm: `Delete connector ${name}?`, danger: true }));
  const tasks = status.tasks.map((task) => h('tr', { 'data-task': task.id },
    h('td', {}, String(task.id)),
    h('td', {}, stateBadge(task.state)),
    h('td', {}, task.worker_id),
    h('td', {}, task.trace ? [
      h('pre', { class: 'trace', tabindex: '0', 'aria-label': `Trace of task ${task.id}` }, task.trace),
      h('button', { type: 'button', onclick: () => navigator.clipboard && navigator.clipboard.writeText(task.trace) }, 'Copy trace'),
    ] : ''),
    h('td', {}, actionButton('Restart task', 'operator', () => api('POST', `${path}/tasks/${task.id}/restart`)))));
  const config = Object.keys(info.config).sort().map((key) => h('tr', {},
    h('td', {}, key), h('td', { class: info.config[key] === '[hidden]' ? 'muted' : '' }, info.config[key])));
  main(
    h('p', {}, h('a', { href: '#/' }, '← Connectors')),
    h('h1', {}, name, ' ', h('span', { id: 'connector-state' }, stateBadge(status.connector.state))),
    h('p', { class: 'muted' }, `${status.type} · ${info.config['connector.class']} · on ${status.connector.worker_id} · `,
      h('span', { 'data-rate': name }, rate(name)), ' records/s ', sparkline(name)),
    status.connector.trace ? h('pre', { class: 'trace', tabindex: '0' }, status.connector.trace) : null,
    actions,
    message || h('p', { id: 'feedback', role: 'status', 'data-connector': name }),
    h('h2', {}, 'Tasks'),
    h('table', { id: 'tasks' },
      h('thead', {}, h('tr', {}, ['Task', 'State', 'Worker', 'Trace', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, tasks)),
    h('h2', {}, 'Offsets'),
    offsets.error
      ? h('p', { class: 'muted', id: 'offsets' }, offsets.error)
      : h('table', { id: 'offsets' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Partition'), h('th', { scope: 'col' }, 'Offset'))),
        h('tbody', {}, offsets.offsets.length
          ? offsets.offsets.map((o) => h('tr', {}, h('td', {}, JSON.stringify(o.partition)), h('td', {}, JSON.stringify(o.offset))))
          : h('tr', {}, h('td', { colspan: 2, class: 'muted' }, 'None committed yet.')))),
    h('h2', {}, 'Topics used'),
    h('p', { id: 'topics' }, ((topics[name] || {}).topics || []).join(', ') || 'None yet.'),
    h('h2', {}, 'Configuration'),
    h('table', { id: 'config' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Value'))),
      h('tbody', {}, config)),
  );
}


// ----------------------------------------------------- create and edit --

// The form of a plugin's config definition: one labelled field per key, grouped as the
// definition groups them, each with its documentation and a place for its errors.
function configForm(definitions, values) {
  const groups = new Map();
  for (const definition of definitions) {
    if (definition.name === 'connector.class' || definition.name === 'name') continue;
    if (!groups.has(definition.group)) groups.set(definition.group, []);
    groups.get(definition.group).push(definition);
  }
  const fieldsets = [...groups.entries()].map(([group, keys], index) => {
    const fields = keys.map((definition) => {
      const id = `field-${definition.name}`;
      const value = values[definition.name];
      const input = definition.type === 'BOOLEAN'
        ? h('select', { id, name: definition.name, 'data-key': definition.name },
          h('option', { value: '' }, definition.default_value ? `(default: ${definition.default_value})` : '(unset)'),
          h('option', { value: 'true', selected: value === 'true' }, 'true'),
          h('option', { value: 'false', selected: value === 'false' }, 'false'))
        : h('input', {
          id,
          name: definition.name,
          'data-key': definition.name,
          type: definition.type === 'PASSWORD' ? 'password' : 'text',
          autocomplete: definition.type === 'PASSWORD' ? 'new-password' : 'off',
          placeholder: definition.default_value || '',
          value: value === undefined ? null : value,
          'aria-describedby': `help-${definition.name} error-${definition.name}`,
        });
      return h('div', { class: 'field' },
        h('label', { for: id }, definition.display_name || definition.name,
          definition.required ? h('span', { class: 'required', 'aria-label': 'required' }, ' *') : null,
          definition.display_name && definition.display_name !== definition.name
            ? h('code', { class: 'muted' }, ` ${definition.name}`) : null),
        input,
        h('p', { class: 'muted help', id: `help-${definition.name}` }, definition.documentation),
        h('p', { class: 'field-error error', id: `error-${definition.name}`, role: 'alert' }));
    });
    // The plugin's own group first and open; the runtime's long list folded.
    return h('details', { open: index === 0 || group !== 'Common', 'data-group': group },
      h('summary', {}, group), fields);
  });
  // Plugins' own groups before the runtime's ones.
  fieldsets.sort((a, b) => (a.dataset.group === 'Common') - (b.dataset.group === 'Common'));
  return fieldsets;
}

function formValues(form, className, name) {
  const config = { 'connector.class': className, name };
  for (const field of form.querySelectorAll('[data-key]')) {
    if (field.value !== '') config[field.dataset.key] = field.value;
  }
  return config;
}

// Asks the validate endpoint and shows each key's errors next to its field.
async function showValidation(form, className, name) {
  const result = await api('PUT', `/connector-plugins/${encodeURIComponent(className)}/config/validate`,
    formValues(form, className, name));
  const errors = new Map();
  for (const config of result.configs) errors.set(config.value.name, config.value.errors);
  const shown = new Set();
  for (const line of form.querySelectorAll('.field-error')) {
    const key = line.id.slice('error-'.length);
    shown.add(key);
    line.textContent = (errors.get(key) || []).join(' ');
  }
  // Errors of keys the form has no field for (the name, a key only pasted JSON set).
  const others = [...errors].filter(([key, list]) => list.length && !shown.has(key))
    .map(([key, list]) => `${key}: ${list.join(' ')}`);
  return { count: result.error_count, others };
}

function debounce(run, ms) {
  let timer = null;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(run, ms);
  };
}

async function renderCreate() {
  stopRefresh();
  session.shown = null;
  const plugins = (await api('GET', '/connector-plugins')).filter((p) => p.type === 'source' || p.type === 'sink');
  const name = h('input', { id: 'connector-name', name: 'name', required: true, autocomplete: 'off' });
  const plugin = h('select', { id: 'connector-plugin', name: 'plugin' },
    h('option', { value: '' }, 'Choose a plugin'),
    plugins.map((p) => h('option', { value: p.class }, `${p.class} (${p.type}, ${p.version})`)));
  const fields = h('div', { id: 'fields' });
  const pasted = h('textarea', { id: 'connector-json', rows: 8, cols: 80, 'aria-label': 'Connector JSON' });
  const form = h('form', { id: 'create-form', 'aria-label': 'New connector' },
    h('div', { class: 'field' }, h('label', { for: 'connector-name' }, 'Name'), name),
    h('div', { class: 'field' }, h('label', { for: 'connector-plugin' }, 'Plugin'), plugin),
    fields,
    h('details', {}, h('summary', {}, 'Or paste a Kafka Connect JSON config'), pasted,
      h('button', { type: 'button', id: 'apply-json', onclick: () => applyJson() }, 'Fill the form from it')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'create-submit' }, 'Create')),
    h('p', { id: 'feedback', role: 'status' }));
  const validate = debounce(() => plugin.value && showValidation(form, plugin.value, name.value).catch(() => {}), 400);
  async function choose(values) {
    fields.replaceChildren();
    if (!plugin.value) return;
    const definitions = await api('GET', `/connector-plugins/${encodeURIComponent(plugin.value)}/config`);
    fields.replaceChildren(...configForm(definitions, values || {}));
  }
  async function applyJson() {
    let parsed;
    try {
      parsed = JSON.parse(pasted.value);
    } catch (error) {
      feedback(`The JSON does not parse: ${error.message}`, true);
      return;
    }
    const config = parsed.config || parsed;
    if (parsed.name || config.name) name.value = parsed.name || config.name;
    const match = plugins.find((p) => p.class === config['connector.class'] || p.class.endsWith(`.${config['connector.class']}`));
    if (!match) {
      feedback(`connector.class ${config['connector.class']} is not a loaded plugin`, true);
      return;
    }
    plugin.value = match.class;
    await choose(config);
    validate();
  }
  plugin.addEventListener('change', () => choose({}));
  form.addEventListener('input', validate);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!plugin.value) {
      feedback('Choose a plugin first', true);
      return;
    }
    try {
      const { count, others } = await showValidation(form, plugin.value, name.value);
      if (count > 0) {
        feedback(['Fix the fields marked above first.', ...others].join(' '), true);
        return;
      }
      await api('POST', '/connectors', { name: name.value, config: formValues(form, plugin.value, name.value) });
      location.hash = `#/connectors/${encodeURIComponent(name.value)}`;
    } catch (error) {
      if (error.status !== 401) feedback(error.message, true);
    }
  });
  main(h('p', {}, h('a', { href: '#/' }, '← Connectors')), h('h1', {}, 'New connector'), form);
  name.focus();
}

// Edit: the same form with the stored values (secrets stay [hidden], which keeps them), and the
// changes listed for confirmation before they are saved.
async function renderEdit(connectorName) {
  stopRefresh();
  session.shown = null;
  const path = `/connectors/${encodeURIComponent(connectorName)}`;
  const stored = await api('GET', `${path}/config`);
  const className = stored['connector.class'];
  const definitions = await api('GET', `/connector-plugins/${encodeURIComponent(className)}/config`);
  const form = h('form', { id: 'edit-form', 'aria-label': `Edit ${connectorName}` },
    configForm(definitions, stored),
    h('div', { id: 'diff' }),
    h('div', { class: 'actions' },
      h('button', { type: 'button', id: 'review' }, 'Review changes'),
      h('button', { type: 'submit', id: 'save', disabled: true }, 'Save')),
    h('p', { id: 'feedback', role: 'status' }));
  const changes = () => {
    const next = formValues(form, className, stored.name);
    for (const key of Object.keys(stored)) {
      if (!(key in next) && !definitions.some((d) => d.name === key)) next[key] = stored[key];
    }
    const keys = [...new Set([...Object.keys(stored), ...Object.keys(next)])].sort();
    return { next, changed: keys.filter((k) => stored[k] !== next[k]).map((k) => [k, stored[k], next[k]]) };
  };
  const validate = debounce(() => showValidation(form, className, stored.name).catch(() => {}), 400);
  form.addEventListener('input', () => {
    form.querySelector('#save').disabled = true;
    validate();
  });
  form.querySelector('#review').addEventListener('click', () => {
    const { changed } = changes();
    form.querySelector('#diff').replaceChildren(changed.length
      ? h('table', { id: 'changes' },
        h('thead', {}, h('tr', {}, ['Key', 'Now', 'After saving'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, changed.map(([key, before, after]) => h('tr', {},
          h('td', {}, key), h('td', {}, before === undefined ? '(unset)' : before),
          h('td', {}, after === undefined ? '(unset)' : after)))))
      : h('p', {}, 'Nothing changed.'));
    form.querySelector('#save').disabled = changed.length === 0;
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api('PUT', `${path}/config`, changes().next);
      location.hash = `#/connectors/${encodeURIComponent(connectorName)}`;
    } catch (error) {
      if (error.status !== 401) feedback(error.message, true);
    }
  });
  main(h('p', {}, h('a', { href: `#/connectors/${encodeURIComponent(connectorName)}` }, `← ${connectorName}`)),
    h('h1', {}, `Edit ${connectorName}`), form);
}

// --------------------------------------------------------------- router --

function route() {
  if (location.hash === '#/new') return { create: true };
  const edit = /^#\/connectors\/(.+)\/edit$/.exec(location.hash);
  if (edit) return { edit: decodeURIComponent(edit[1]) };
  const match = /^#\/connectors\/(.+)$/.exec(location.hash);
  return match ? { connector: decodeURIComponent(match[1]) } : {};
}

// Forms are rendered once; the live pages are refreshed every REFRESH_MS.
async function navigate() {
  session.shown = null;
  const { create, edit } = route();
  try {
    if (create) await renderCreate();
    else if (edit !== undefined) await renderEdit(edit);
    else {
      await refresh();
      stopRefresh();
      session.timer = setInterval(refresh, REFRESH_MS);
    }
  } catch (error) {
    if (error.status !== 401 && error.status !== 0) feedback(error.message, true);
  }
}

async function refresh() {
  if (!session.me) return;
  const { connector, create, edit } = route();
  if (create || edit !== undefined) return;
  try {
    if (connector !== undefined) await renderConnector(connector);
    else await renderOverview();
  } catch (error) {
    if (error.status !== 401 && error.status !== 0) feedback(error.message, true);
  }
}

function stopRefresh() {
  if (session.timer) clearInterval(session.timer);
  session.timer = null;
}

async function start() {
  try {
    const me = await api('GET', '/whoami');
    const worker = await api('GET', '/');
    session.me = me;
    document.getElementById('worker').textContent = `version ${worker.version} · Kafka cluster ${worker.kafka_cluster_id}`;
  } catch (error) {
    if (error.status !== 401) main(h('p', { class: 'error', role: 'alert' }, error.message));
    if (error.status === 0) setTimeout(start, REFRESH_MS);
    return;
  }
  showIdentity();
  await navigate();
  // When the first page became usable, in ms from the start of navigation (the browser tests
  // report it).
  if (window.ferryFirstRender === undefined) window.ferryFirstRender = performance.now();
}

window.addEventListener('hashchange', navigate);
start();
