// Ferry's web console: a client of the worker's public REST API, no framework and no build
// step. Every value from the API goes into the page as text, never as markup.
'use strict';

const REFRESH_MS = 2000;
const ROLES = ['viewer', 'operator', 'admin'];
// Five minutes of REFRESH_MS samples.
const HISTORY = (5 * 60 * 1000) / REFRESH_MS;
// Figures older than this are from a task no longer reporting (its worker shares every 5 s).
const STALE_MS = 15000;

const session = {
  authorization: sessionStorage.getItem('ferry.authorization'),
  me: null,
  // `${connector}\u0000${task}` -> the task's last figures and records/s.
  tasks: new Map(),
  // connector -> records/s in and out, lag and latency quantiles.
  flow: new Map(),
  // connector -> the last HISTORY flows, for its charts.
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

// Re-renders only when what the page shows changed; the flow figures are updated in place.
function unchanged(page, data) {
  const key = JSON.stringify([page, data, session.me && session.me.role]);
  if (session.shown === key) return true;
  session.shown = key;
  return false;
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

// ------------------------------------------------------------- activity --

// Reads this worker's view of its cluster from its /metrics (distributed mode only).
async function readCluster() {
  let text;
  try {
    text = String(await api('GET', '/metrics'));
  } catch (error) {
    return;
  }
  const gauge = (name) => {
    const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };
  session.cluster = gauge('ferry_cluster_members') === undefined ? null : {
    leader: gauge('ferry_cluster_leader') === 1,
    generation: gauge('ferry_cluster_assignment_generation'),
    members: gauge('ferry_cluster_members'),
  };
}

// The bucket bound under which a `q` share of the records fell, from cumulative counts.
function quantile(counts, bounds, q) {
  const total = counts[counts.length - 1];
  if (!total) return null;
  const index = counts.findIndex((count) => count >= q * total);
  return index < bounds.length ? bounds[index] : Infinity;
}

// Folds a connector's activity (GET /connectors/{name}/activity) into per-task rates and the
// connector's flow: records/s in and out, lag, latency quantiles, and five minutes of history.
// Counters are per worker: a task that moved starts again from 0, so that step is skipped.
function absorb(activity) {
  const name = activity.name;
  const bounds = activity.latency_bounds_ms;
  const now = Date.now();
  const flow = { in: 0, out: 0, lag: null };
  const latency = new Array(bounds.length + 1).fill(0);
  for (const task of activity.tasks) {
    const key = `${name}\u0000${task.id}`;
    const last = session.tasks.get(key);
    let rates = last ? last.rates : { in: 0, out: 0 };
    if (last && task.at > last.at && task.worker_id === last.worker_id && task.records_out >= last.out) {
      const seconds = (task.at - last.at) / 1000;
      rates = {
        in: Math.max(0, (task.records_in - last.in) / seconds),
        out: (task.records_out - last.out) / seconds,
      };
      task.latency_counts.forEach((count, i) => { latency[i] += Math.max(0, count - (last.counts[i] || 0)); });
    }
    // Figures that stopped coming (their worker is gone) no longer count.
    if (now - task.at > STALE_MS) rates = { in: 0, out: 0 };
    if (!last || task.at !== last.at) {
      session.tasks.set(key, {
        at: task.at, worker_id: task.worker_id, in: task.records_in, out: task.records_out,
        counts: task.latency_counts, rates,
      });
    }
    flow.in += rates.in;
    flow.out += rates.out;
    if (task.lag !== null && task.lag !== undefined) flow.lag = (flow.lag || 0) + task.lag;
  }
  const previous = session.flow.get(name);
  if (latency[latency.length - 1] > 0) {
    flow.p50 = quantile(latency, bounds, 0.5);
    flow.p99 = quantile(latency, bounds, 0.99);
    flow.latencyAt = now;
  } else if (previous && now - previous.latencyAt <= STALE_MS) {
    Object.assign(flow, { p50: previous.p50, p99: previous.p99, latencyAt: previous.latencyAt });
  }
  session.flow.set(name, flow);
  const history = session.history.get(name) || [];
  history.push({ out: flow.out, in: flow.in, p50: flow.p50, p99: flow.p99 });
  if (history.length > HISTORY) history.shift();
  session.history.set(name, history);
}

function perSecond(value) {
  return value === undefined ? '–' : value.toFixed(1);
}

function milliseconds(bound) {
  if (bound === undefined || bound === null) return '–';
  return bound === Infinity ? '> 30 s' : `≤ ${bound} ms`;
}

// The text of one figure of a connector's flow: in, out, lag, p50 or p99.
function flowText(name, field) {
  const flow = session.flow.get(name);
  if (!flow) return '–';
  if (field === 'lag') return flow.lag === null ? '–' : String(flow.lag);
  if (field === 'p50' || field === 'p99') return milliseconds(flow[field]);
  return perSecond(flow[field]);
}

function flowCell(tag, name, field, attributes) {
  return h(tag, { ...attributes, 'data-flow': name, 'data-field': field }, flowText(name, field));
}

// An inline SVG of the last five minutes: one polyline per series, scaled to its panel.
function chart(name, series, options) {
  const history = session.history.get(name) || [];
  const width = options.width;
  const height = options.height;
  const values = series.flatMap((s) => history.map((point) => point[s.field]))
    .filter((v) => v !== undefined && v !== null && v !== Infinity);
  // Headroom above the highest value, so a steady line does not hide under the border.
  const top = Math.max(options.floor, ...values) * 1.25;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${options.label} over the last 5 minutes, up to ${top.toFixed(1)}`);
  svg.setAttribute('data-chart', JSON.stringify([name, options.kind]));
  for (const s of series) {
    const points = [];
    history.forEach((point, index) => {
      const value = point[s.field] === Infinity ? top : point[s.field];
      if (value === undefined || value === null) return;
      const x = (index * width) / (HISTORY - 1);
      points.push(`${x.toFixed(1)},${(height - (value / top) * (height - 2) - 1).toFixed(1)}`);
    });
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', points.join(' '));
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', 'currentColor');
    if (s.dashed) line.setAttribute('stroke-dasharray', '4 3');
    svg.append(line);
  }
  if (options.axes) {
    const label = (x, y, anchor, text) => {
      const element = document.createElementNS('http://www.w3.org/2000/svg', 'text');
      element.setAttribute('x', x);
      element.setAttribute('y', y);
      element.setAttribute('text-anchor', anchor);
      element.setAttribute('class', 'axis');
      element.textContent = text;
      svg.append(element);
    };
    label(4, 12, 'start', top.toFixed(top < 10 ? 1 : 0));
    label(4, height - 4, 'start', '−5 min');
    label(width - 4, height - 4, 'end', 'now');
  }
  return svg;
}

const CHARTS = {
  spark: (name) => chart(name, [{ field: 'out' }, { field: 'in', dashed: true }],
    { width: 120, height: 24, floor: 1, label: 'records/s out (solid) and in (dashed)', kind: 'spark' }),
  throughput: (name) => chart(name, [{ field: 'out' }, { field: 'in', dashed: true }],
    { width: 360, height: 90, floor: 1, label: 'records/s out (solid) and in (dashed)', kind: 'throughput', axes: true }),
  latency: (name) => chart(name, [{ field: 'p99' }, { field: 'p50', dashed: true }],
    { width: 360, height: 90, floor: 1, label: 'latency in ms, p99 (solid) and p50 (dashed)', kind: 'latency', axes: true }),
};

// Updates the figures and charts in place, between full re-renders.
function updateFlows() {
  for (const cell of document.querySelectorAll('[data-flow]')) cell.textContent = flowText(cell.dataset.flow, cell.dataset.field);
  for (const cell of document.querySelectorAll('[data-task-flow]')) cell.textContent = taskFlowText(cell.dataset.taskFlow, cell.dataset.field);
  for (const old of document.querySelectorAll('[data-chart]')) {
    const [name, kind] = JSON.parse(old.dataset.chart);
    old.replaceWith(CHARTS[kind](name));
  }
}

function taskFlowText(key, field) {
  const task = session.tasks.get(key);
  return task ? perSecond(task.rates[field]) : '–';
}

// ------------------------------------------------------------- overview --

function taskCounts(status) {
  const counts = { RUNNING: 0, FAILED: 0, PAUSED: 0 };
  for (const task of status.tasks || []) counts[task.state] = (counts[task.state] || 0) + 1;
  return `${counts.RUNNING} running, ${counts.FAILED} failed, ${counts.PAUSED} paused of ${(status.tasks || []).length}`;
}

function lastError(status) {
  const failed = [status.connector, ...(status.tasks || [])].find((s) => s && s.trace);
  if (failed) return failed.trace.split('\n')[0];
  const waiting = (status.tasks || []).find((s) => s.warning);
  return waiting ? `task ${waiting.id}: ${waiting.warning}` : '';
}

async function renderOverview() {
  const [connectors] = await Promise.all([
    api('GET', '/connectors?expand=status&expand=info&expand=activity'),
    readCluster(),
  ]);
  const names = Object.keys(connectors).sort();
  for (const name of names) if (connectors[name].activity) absorb(connectors[name].activity);
  const shown = names.map((name) => [name, connectors[name].status, connectors[name].info,
    connectors[name].activity && connectors[name].activity.plugin_version]);
  if (unchanged('overview', [shown, session.cluster])) {
    updateFlows();
    return;
  }
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
      h('td', { class: 'plugin' }, info ? pluginText(info, connectors[name].activity) : ''),
      h('td', {}, status ? stateBadge(status.connector.state) : ''),
      h('td', {}, status ? taskCounts(status) : ''),
      flowCell('td', name, 'in', { class: 'rate-in' }),
      flowCell('td', name, 'out', { class: 'rate-out' }),
      h('td', { class: 'spark' }, CHARTS.spark(name)),
      flowCell('td', name, 'lag', { class: 'lag' }),
      h('td', { class: 'muted' }, status ? lastError(status) : ''));
  });
  main(
    h('h1', {}, 'Connectors'),
    may('admin') ? h('p', {}, h('a', { href: '#/new', id: 'new-connector' }, 'New connector')) : null,
    rows.length
      ? h('table', { id: 'connectors' },
        h('thead', {}, h('tr', {}, ['Name', 'Type', 'Plugin and version', 'State', 'Tasks', 'In/s', 'Out/s', 'Last 5 min', 'Lag', 'Last error']
          .map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'No connectors yet.'),
    h('p', { class: 'muted' }, 'In: records a source polled or a sink read from Kafka. Out: records Kafka acknowledged or a sink was handed. Lag: records past a sink\'s committed offsets.'),
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

// The connector's class as configured, and the version of the plugin serving it.
function pluginText(info, activity) {
  const version = activity && activity.plugin_version;
  return version ? `${info.config['connector.class']} ${version}` : info.config['connector.class'];
}

function localTime(ms) {
  return ms ? new Date(ms).toLocaleString() : '–';
}

// Offsets as a table, and for an admin of a STOPPED connector an editor to alter them.
function offsetsSection(path, name, status, offsets) {
  if (offsets.error) return [h('p', { class: 'muted', id: 'offsets' }, offsets.error)];
  const table = h('table', { id: 'offsets' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Partition'), h('th', { scope: 'col' }, 'Offset'))),
    h('tbody', {}, offsets.offsets.length
      ? offsets.offsets.map((o) => h('tr', {}, h('td', {}, JSON.stringify(o.partition)), h('td', {}, JSON.stringify(o.offset))))
      : h('tr', {}, h('td', { colspan: 2, class: 'muted' }, 'None committed yet.'))));
  if (!may('admin')) return [table];
  if (status.connector.state !== 'STOPPED') {
    return [table, h('p', { class: 'muted' }, 'Stop the connector to alter or reset its offsets.')];
  }
  // What the user typed survives the page's refreshes.
  const typed = document.getElementById('offsets-edit');
  const editor = h('textarea', { id: 'offsets-edit', rows: 6, cols: 80, spellcheck: 'false', 'aria-describedby': 'offsets-help' });
  editor.value = typed && typed.dataset.edited ? typed.value : JSON.stringify({ offsets: offsets.offsets }, null, 2);
  if (typed && typed.dataset.edited) editor.dataset.edited = '1';
  editor.addEventListener('input', () => { editor.dataset.edited = '1'; });
  return [table,
    h('label', { for: 'offsets-edit' }, 'Alter offsets'),
    h('p', { id: 'offsets-help', class: 'muted' }, 'Kafka Connect\'s form: {"offsets": [{"partition": {...}, "offset": {...}}]}; an offset of null removes a source partition\'s.'),
    editor,
    h('div', { class: 'actions' }, actionButton('Alter offsets', 'admin', async () => {
      let body;
      try {
        body = JSON.parse(editor.value);
      } catch (error) {
        throw new ApiError(400, `not JSON: ${error.message}`);
      }
      await api('PATCH', `${path}/offsets`, body);
      delete editor.dataset.edited;
    }, { confirm: `Alter the offsets of ${name}?` }))];
}

async function renderConnector(name) {
  const path = `/connectors/${encodeURIComponent(name)}`;
  let status;
  let info;
  let offsets;
  let topics;
  let activity;
  try {
    [status, info, offsets, topics, activity] = await Promise.all([api('GET', `${path}/status`), api('GET', path),
      api('GET', `${path}/offsets`).catch((error) => ({ error: error.message })),
      api('GET', `${path}/topics`).catch(() => ({})),
      api('GET', `${path}/activity`).catch(() => null), readCluster()]);
  } catch (error) {
    if (error.status === 404) {
      session.shown = null;
      main(h('h1', {}, name), h('p', { id: 'feedback', role: 'status' }, 'This connector does not exist (any more).'),
        h('a', { href: '#/' }, 'Back to the connectors'));
      return;
    }
    throw error;
  }
  if (activity) absorb(activity);
  const figures = new Map(((activity && activity.tasks) || []).map((task) => [task.id, task]));
  const restarts = [...figures.values()].map((task) => [task.id, task.worker_id, task.restarts, task.started_at]);
  if (unchanged(`connector:${name}`, [status, info, offsets, topics, restarts])) {
    updateFlows();
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
  const tasks = status.tasks.map((task) => {
    const figure = figures.get(task.id);
    const key = `${name}\u0000${task.id}`;
    return h('tr', { 'data-task': task.id },
      h('td', {}, String(task.id)),
      h('td', {}, stateBadge(task.state)),
      h('td', {}, task.worker_id),
      h('td', { class: 'restarts' }, figure ? String(figure.restarts) : '–'),
      h('td', { class: 'restarted-at' }, figure && figure.restarts > 0 ? localTime(figure.started_at) : '–'),
      h('td', { 'data-task-flow': key, 'data-field': 'in' }, taskFlowText(key, 'in')),
      h('td', { 'data-task-flow': key, 'data-field': 'out' }, taskFlowText(key, 'out')),
      h('td', {}, figure && figure.lag !== null ? String(figure.lag) : '–'),
      h('td', {}, task.warning ? h('p', { class: 'warning', role: 'status' }, task.warning) : null, task.trace ? [
        h('pre', { class: 'trace', tabindex: '0', 'aria-label': `Trace of task ${task.id}` }, task.trace),
        h('button', { type: 'button', onclick: () => navigator.clipboard && navigator.clipboard.writeText(task.trace) }, 'Copy trace'),
      ] : ''),
      h('td', {}, actionButton('Restart task', 'operator', () => api('POST', `${path}/tasks/${task.id}/restart`))));
  });
  const config = Object.keys(info.config).sort().map((key) => h('tr', {},
    h('td', {}, key), h('td', { class: info.config[key] === '[hidden]' ? 'muted' : '' }, info.config[key])));
  main(
    h('p', {}, h('a', { href: '#/' }, '← Connectors')),
    h('h1', {}, name, ' ', h('span', { id: 'connector-state' }, stateBadge(status.connector.state))),
    h('p', { class: 'muted', id: 'connector-summary' }, `${status.type} · ${pluginText(info, activity)} · on ${status.connector.worker_id}`),
    status.connector.trace ? h('pre', { class: 'trace', tabindex: '0' }, status.connector.trace) : null,
    actions,
    message || h('p', { id: 'feedback', role: 'status', 'data-connector': name }),
    h('div', { class: 'plots' },
      h('figure', { id: 'throughput' }, CHARTS.throughput(name),
        h('figcaption', {}, 'Records/s out ', flowCell('strong', name, 'out'), ', in ', flowCell('strong', name, 'in'),
          status.type === 'sink' ? [', lag ', flowCell('strong', name, 'lag')] : null, ' (solid: out, dashed: in)')),
      h('figure', { id: 'latency' }, CHARTS.latency(name),
        h('figcaption', {}, 'Latency p50 ', flowCell('strong', name, 'p50'), ', p99 ', flowCell('strong', name, 'p99'),
          status.type === 'sink' ? ' (record timestamp to put)' : ' (record timestamp to Kafka\'s acknowledgement)'))),
    h('h2', {}, 'Tasks'),
    h('table', { id: 'tasks' },
      h('thead', {}, h('tr', {}, ['Task', 'State', 'Worker', 'Restarts', 'Last restarted at', 'In/s', 'Out/s', 'Lag', 'Warning or trace', '']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, tasks)),
    h('h2', {}, 'Offsets'),
    ...offsetsSection(path, name, status, offsets),
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
