// hermetic cockpit: a hash-routed page over the JSON endpoints of docs/cockpit.md.
// No framework and no innerHTML: every value reaches the page through textContent.
'use strict';

const $ = (sel) => document.querySelector(sel);
let csrf = '';

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

async function api(path, body) {
  const init = { credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers['Content-Type'] = 'application/json';
    if (csrf) init.headers['X-CSRF-Token'] = csrf;
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  let data = {};
  try { data = await r.json(); } catch (e) { data = {}; }
  if (r.status === 401 && path !== '/v1/ui/login') {
    csrf = '';
    show('login');
    throw new Error('not logged in');
  }
  if (!r.ok) {
    const err = new Error(data.error || 'HTTP ' + r.status);
    err.status = r.status;
    throw err;
  }
  return data;
}

function show(id) {
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== id;
  $('#nav').hidden = id === 'login';
  for (const a of document.querySelectorAll('nav a')) {
    const on = a.getAttribute('href') === '#' + ({ session: 'sessions', task: 'tasks' }[id] || id);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  if (id === 'login') $('#password').focus();
}

function status(msg) {
  const s = $('#status');
  s.textContent = msg || '';
  s.hidden = !msg;
}

const usd = (v) => v.toFixed(6);
// Times are the config's `timezone` (GET /v1/ui/me, the login's answer), labelled with it: cron
// schedules, days and budgets run in that zone, never in the browser's.
let zone = 'UTC';
let zoneFmt = null;
function setZone(z) {
  if (!z || z === zone && zoneFmt) return;
  zone = z;
  zoneFmt = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric',
    month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
  for (const e of document.querySelectorAll('.zone')) e.textContent = zone;
}
function when(ms) {
  if (!zoneFmt) setZone(zone);
  const p = Object.fromEntries(zoneFmt.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${zone}`;
}
// A cron line says its zone beside it (a reminder's "once at ..." names its own).
const inZone = (cron) => `${cron} (${zone})`;

function sessionItem(s) {
  const title = s.title || '(untitled)';
  return el('li', null, el('a', { href: '#session/' + s.id },
    el('span', { class: 'title', text: title }),
    el('span', { class: 'meta', text: `#${s.id} · ${s.source} · ${when(s.updated_ms)} · ${s.messages} msgs · $${usd(s.cost_usd)}` })));
}

async function pageSessions() {
  show('sessions');
  const d = await api('/v1/ui/sessions?limit=50');
  const list = $('#session-list');
  list.replaceChildren(...d.sessions.map(sessionItem));
  if (!d.sessions.length) list.append(el('li', { class: 'meta', text: 'No sessions yet.' }));
}

async function search(q) {
  const box = $('#search-result');
  if (!q) { box.hidden = true; return; }
  const d = await api('/v1/ui/sessions?q=' + encodeURIComponent(q));
  box.replaceChildren(...d.text.split('\n').filter((l) => l).map((line) => {
    const m = /^session (\d+) /.exec(line);
    return m ? el('p', null, el('a', { href: '#session/' + m[1], text: line })) : el('p', { text: line });
  }));
  box.hidden = false;
}

function message(m) {
  const li = el('li', null, el('div', { class: 'role', text: m.role }));
  if (m.content) li.append(el('p', { class: 'text', text: m.content + (m.cut ? ' …' : '') }));
  for (const t of m.tool_calls) {
    li.append(el('details', null, el('summary', { text: 'tool call: ' + t.name }), el('pre', { text: t.arguments })));
  }
  return li;
}

let viewed = null; // the session view shown: what Continue takes into the chat

async function pageSession(id) {
  show('session');
  const d = await api('/v1/ui/session?id=' + encodeURIComponent(id));
  const s = d.session;
  viewed = d;
  $('#continue-session').hidden = !d.continuable;
  $('#continue-where').textContent = d.continuable ? 'Continue this session in the chat: your next message goes on from here.'
    : `This session belongs to ${d.continued_in} (${s.source}): read or export it here; it is continued only there.`;
  $('#session-title').textContent = s.title || 'Session ' + s.id;
  // The group that answered the last turn, when a fallback or the lane's groups did.
  const answered = d.answered_by && d.answered_by.model !== s.model ? ` (last answer: ${d.answered_by.model})` : '';
  $('#session-meta').textContent = `#${s.id} · ${s.source} · started ${when(s.created_ms)} · model ${s.model || '-'}${answered} · ` +
    `${s.turns} turns · ${s.prompt_tokens} + ${s.completion_tokens} tokens · $${usd(s.cost_usd)}${s.ended ? ' · ended' : ''}`;
  // The lane (docs/security.md, "Lanes"): where this session's text may go, and why.
  $('#session-lane').hidden = !d.lane;
  $('#session-lane').textContent = d.lane ? `Lane: ${d.lane.name}${d.lane.why ? ' (' + d.lane.why + ')' : ''}` : '';
  $('#messages').replaceChildren(...d.messages.map(message));
  $('#session-truncated').hidden = !d.truncated;
  $('#export-md').href = `/v1/ui/session?id=${s.id}&export=md`;
  $('#export-json').href = `/v1/ui/session?id=${s.id}&export=json`;
}

function chart(rows) {
  const svg = $('#chart');
  const ns = 'http://www.w3.org/2000/svg';
  const byDay = new Map();
  for (const r of rows) byDay.set(r.day, (byDay.get(r.day) || 0) + r.cost_usd);
  const days = [...byDay.keys()].sort();
  const max = Math.max(...byDay.values(), 0);
  svg.replaceChildren();
  const w = 300 / Math.max(days.length, 1);
  days.forEach((day, i) => {
    const v = byDay.get(day);
    const h = max > 0 ? (v / max) * 96 : 0;
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', (i * w + w * 0.1).toFixed(2));
    r.setAttribute('y', (100 - h).toFixed(2));
    r.setAttribute('width', (w * 0.8).toFixed(2));
    r.setAttribute('height', h.toFixed(2));
    const t = document.createElementNS(ns, 'title');
    t.textContent = `${day}: $${usd(v)}`;
    r.append(t);
    svg.append(r);
  });
}

function spendRow(r, total) {
  const n = (v) => el('td', { class: 'n', text: String(v) });
  return el('tr', null, el('td', { text: total ? 'total' : r.day }), el('td', { text: total ? '' : r.model_group }),
    n(r.calls), n(r.input_tokens), n(r.cached_tokens), n(r.output_tokens), n(usd(r.cost_usd)), n(r.estimated));
}

function breaker(b) {
  let text = !b.enabled ? 'Off (guardrails.bleed sets no limit).'
    : b.open ? `Open: ${b.why}. Model calls are refused${b.until ? ' until ' + b.until : ''}.`
      : `Closed: ${b.calls_in_window} calls, $${usd(b.cost_in_window_usd)} in the window.`;
  text += ` Trips: ${b.trips}, refused calls: ${b.refused}.`;
  $('#breaker-state').textContent = text;
  $('#resume').hidden = !b.open;
}

function usage(label, u) {
  const left = u.budget_usd === null ? 'no budget' : `$${usd(u.budget_left_usd)} left of $${usd(u.budget_usd)}`;
  return [el('dt', { text: label }), el('dd', {
    text: `$${usd(u.cost_usd)} · ${u.calls} calls · ${left} · prompt cache ${(u.cache_hit_share * 100).toFixed(1)}%`,
  })];
}

async function pageSpend() {
  show('spend');
  const d = await api('/v1/ui/spend?days=' + $('#days').value);
  $('#usage').replaceChildren(...usage('Today', d.today), ...usage('This month', d.month));
  chart(d.rows);
  $('#spend-table tbody').replaceChildren(...d.rows.map((r) => spendRow(r, false)));
  $('#spend-table tfoot').replaceChildren(spendRow(d.total, true));
  breaker(await api('/v1/ui/breaker'));
  const b = await api('/v1/ui/balances');
  $('#balances').replaceChildren(...(b.balances.length ? b.balances.flatMap((a) => {
    let v = !a.read ? 'not read yet' : !a.ok ? 'read failed: ' + a.error
      : [a.remaining_usd !== undefined ? `$${a.remaining_usd.toFixed(2)} left` : 'no limit',
        a.limit_usd !== undefined ? `of $${a.limit_usd.toFixed(2)}` : '',
        a.usage_usd !== undefined ? `· used $${a.usage_usd.toFixed(2)}` : '',
        a.cny !== undefined ? `· ¥${a.cny.toFixed(2)}` : '', a.available ? '' : '· not available'].filter((x) => x).join(' ');
    if (a.read) v += ` (read ${when(a.read_ms)})`;
    return [el('dt', { text: `${a.provider} (${a.account})` }), el('dd', { text: v, class: a.read && !a.ok ? 'bad' : '' })];
  }) : [el('dt', { text: 'Balance' }), el('dd', { class: 'meta', text: 'No OpenRouter or DeepSeek key in model_list.' })]));
}

// Memory and skills: shown as the agent reads them, edited through its own writers. Every
// save names the version it was shown, so a file the agent wrote since is not overwritten (409).
let mem = null;   // the last GET /v1/ui/memory
let skill = null; // the skill shown: {name, text, version, writable}
let editing = null; // {kind: 'memory'|'user'|'new'|'skill', name, version}

async function showSkill(name) {
  const d = await api('/v1/ui/skill?name=' + encodeURIComponent(name));
  skill = d;
  $('#skill-title').textContent = d.name;
  $('#skill-text').textContent = d.text === null ? '(unreadable or too large)' : d.text;
  const canEdit = d.writable && d.text !== null;
  $('#edit-skill').hidden = !canEdit;
  $('#delete-skill').hidden = !d.writable;
  $('#delete-confirm').hidden = true;
  $('#skill-error').hidden = true;
  // Every change is a version (hermetic skill history): who made it, its hash, its tests.
  const vs = d.versions || [];
  $('#skill-versions').replaceChildren(...(vs.length ? vs.map((v) => el('li', null,
    el('span', { class: 'title', text: 'v' + v.n + ' · ' + when(v.ts_ms) + ' · ' + v.by }),
    el('span', { class: 'meta', text: v.hash.slice(0, 16) + (v.test ? ' · tests: ' + v.test : '') }),
    v.diff ? el('details', null, el('summary', { text: 'What changed' }), el('pre', { class: 'file', text: v.diff })) : null,
  )) : [el('li', { class: 'meta', text: d.writable ? 'No versions recorded yet.' : 'External skill: its folder keeps its own history.' })]));
  $('#skill-view').hidden = false;
  $('#skill-view').scrollIntoView();
}

function fileMeta(f) {
  return f ? `${f.chars} of ${f.max_chars} characters · ${f.entries} ${f.entries === 1 ? 'entry' : 'entries'}` : '';
}

async function pageMemory() {
  show('memory');
  closeEditor();
  const d = await api('/v1/ui/memory');
  mem = d;
  const file = (t) => (t === null ? '(unreadable or too large)' : t || '(empty)');
  $('#memory-text').textContent = file(d.memory);
  $('#user-text').textContent = file(d.user);
  $('#memory-meta').textContent = fileMeta(d.memory_file);
  $('#user-meta').textContent = fileMeta(d.user_file);
  $('#edit-memory').hidden = !d.memory_file;
  $('#edit-user').hidden = !d.user_file;
  $('#skill-view').hidden = true;
  $('#skill-list').replaceChildren(...(d.skills.length ? d.skills.map((k) => {
    const b = el('button', { type: 'button', class: 'secondary', text: 'Show SKILL.md', 'aria-label': 'Show SKILL.md of ' + k.name });
    b.addEventListener('click', () => showSkill(k.name).catch((e) => status(e.message)));
    return el('li', null,
      el('span', { class: 'title', text: (k.category ? k.category + '/' : '') + k.name + (k.external ? ' (external, read-only)' : '') }),
      el('span', { class: k.error ? 'meta bad' : 'meta', text: k.error ? 'invalid: ' + k.error : k.description }), el('br'), b);
  }) : [el('li', { class: 'meta', text: 'No skills yet.' })]));
  await showQuarantine();
}

// Quarantined skills (GET /v1/ui/quarantine): each file with its flagged lines, and Approve,
// which does what `hermetic skill approve NAME --sha256 HEX` does with the sha256 of the
// content shown.
function flagOf(l) {
  return l.url && l.tool ? '!! [URL][TOOL] ' : l.url ? '!! [URL]       ' : l.tool ? '!! [TOOL]      ' : '               ';
}

function quarantinedItem(q) {
  if (q.error) return el('li', null, el('span', { class: 'title', text: q.name }), el('span', { class: 'meta bad', text: q.error }));
  const f = q.flags;
  const files = q.files.map((file) => el('div', null,
    el('p', { class: file.script || file.binary ? 'bad' : 'meta', text: `${file.path} (${file.bytes} bytes)${file.script ? ' !! [SCRIPT] runs code if anything executes it' : ''}${file.binary ? ' !! [BINARY] not shown' : ''}` }),
    file.binary ? null : el('pre', { class: 'file', text: file.lines.map((l) => flagOf(l) + String(l.no).padStart(4) + ' | ' + l.text).join('\n') })));
  const b = el('button', { type: 'button', text: 'Approve', 'aria-label': 'Approve skill ' + q.name });
  b.disabled = !!q.changed;
  b.addEventListener('click', async () => {
    // the content this page shows, by its sha256: a skill replaced since is refused (409)
    try { await api('/v1/ui/quarantine/approve', { name: q.name, sha256: q.content_sha256 }); status(`Approved ${q.name}: offered to the model from its next session.`); await pageMemory(); } catch (e) { status(e.message); showQuarantine().catch(() => {}); }
  });
  return el('li', null,
    el('span', { class: 'title', text: q.name }),
    el('span', { class: 'meta', text: `from ${q.source} · sha256 ${q.sha256.slice(0, 16)} · installed ${when(q.installed_ms)}` }),
    el('p', { class: f.scripts + f.urls + f.tools ? 'bad' : 'meta', text: `${f.scripts} scripts, ${f.urls} lines with a URL, ${f.tools} lines telling the model to call a tool or run a command` }),
    q.changed ? el('p', { class: 'bad', text: 'Changed in quarantine since it was installed: install it again.' }) : null,
    ...files, b);
}

async function showQuarantine() {
  const d = await api('/v1/ui/quarantine');
  $('#quarantine').hidden = !d.skills.length;
  $('#quarantine-list').replaceChildren(...d.skills.map(quarantinedItem));
}

const NEW_SKILL = '---\nname: NAME\ndescription: One line on when to use this skill.\n---\n\n# Steps\n\n1. \n';

function openEditor(kind) {
  const f = kind === 'memory' ? mem.memory_file : kind === 'user' ? mem.user_file : null;
  editing = { kind, name: kind === 'skill' ? skill.name : '', version: f ? f.version : kind === 'skill' ? skill.version : '' };
  $('#editor-title').textContent = kind === 'memory' ? 'Edit MEMORY.md' : kind === 'user' ? 'Edit USER.md'
    : kind === 'new' ? 'New skill' : 'Edit skill ' + skill.name;
  $('#editor-help').textContent = f ? `Entries are separated by a line holding only "§". At most ${f.max_chars} characters.`
    : 'The whole SKILL.md: front matter with name and description, then the steps.';
  $('#editor-text').value = kind === 'memory' ? mem.memory : kind === 'user' ? mem.user : kind === 'new' ? NEW_SKILL : skill.text;
  $('#skill-name-row').hidden = kind !== 'new';
  $('#skill-name').value = '';
  $('#editor-error').hidden = true;
  $('#files').hidden = true;
  $('#editor').hidden = false;
  (kind === 'new' ? $('#skill-name') : $('#editor-text')).focus();
}

function closeEditor() {
  editing = null;
  $('#editor').hidden = true;
  $('#files').hidden = false;
}

function editorError(e) {
  const box = $('#editor-error');
  box.textContent = e.status === 409 && editing.kind !== 'new'
    ? e.message + ' (Cancel shows the file as it is now; your text stays here until then.)' : e.message;
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
}

async function saveEditor() {
  const text = $('#editor-text').value;
  const e = editing;
  let r;
  if (e.kind === 'memory' || e.kind === 'user') {
    r = await api('/v1/ui/memory/save', { target: e.kind, text, version: e.version });
  } else if (e.kind === 'new') {
    r = await api('/v1/ui/skill/create', { name: $('#skill-name').value.trim(), text });
  } else {
    r = await api('/v1/ui/skill/save', { name: e.name, text, version: e.version });
  }
  const name = e.kind === 'new' ? $('#skill-name').value.trim() : e.name;
  await pageMemory();
  status(r.text);
  if (e.kind === 'new' || e.kind === 'skill') await showSkill(name);
}

async function deleteSkill() {
  const name = skill.name;
  try {
    const r = await api('/v1/ui/skill/delete', { name, version: skill.version });
    await pageMemory();
    status(r.text);
  } catch (e) {
    $('#delete-confirm').hidden = true;
    $('#skill-error').textContent = e.message;
    $('#skill-error').hidden = false;
  }
}

function memoryEditor() {
  $('#edit-memory').addEventListener('click', () => openEditor('memory'));
  $('#edit-user').addEventListener('click', () => openEditor('user'));
  $('#new-skill').addEventListener('click', () => openEditor('new'));
  $('#edit-skill').addEventListener('click', () => openEditor('skill'));
  $('#delete-skill').addEventListener('click', () => {
    $('#delete-question').textContent = `Delete skill ${skill.name} and its folder? This cannot be undone.`;
    $('#delete-confirm').hidden = false;
    $('#delete-no').focus();
  });
  $('#delete-no').addEventListener('click', () => { $('#delete-confirm').hidden = true; });
  $('#delete-yes').addEventListener('click', () => deleteSkill());
  $('#editor-cancel').addEventListener('click', () => { route(); });
  $('#editor').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const b = $('#editor-save');
    b.disabled = true;
    $('#editor-error').hidden = true;
    try { await saveEditor(); } catch (e) { if (editing) editorError(e); else status(e.message); }
    b.disabled = false;
  });
}

function action(label, cls, fn) {
  const b = el('button', { type: 'button', class: cls, text: label });
  b.addEventListener('click', async () => {
    b.disabled = true;
    try { await fn(); } catch (e) { status(e.message); }
    route();
  });
  return b;
}

function verdicts(j) {
  if (!j.health_check) return '-';
  if (!j.verdicts.length) return 'no verdict yet';
  const v = j.verdicts[0];
  const mark = { ok: '✓', warn: '⚠', fail: '✗' };
  return `${v.status} at ${when(v.time_ms)}: ${v.summary} · last ${j.verdicts.length}: ` +
    j.verdicts.map((x) => mark[x.status] || '?').join('');
}

async function pageJobs() {
  show('jobs');
  const d = await api('/v1/ui/jobs');
  $('#jobs-table tbody').replaceChildren(...(d.cron.length ? d.cron.map((j) => el('tr', null,
    el('td', { text: j.name + (j.enabled ? '' : ' (disabled)') + (j.health_check ? ' (health check)' : '') }),
    el('td', { text: inZone(j.schedule) }),
    el('td', { text: j.next_ms ? when(j.next_ms) : '-' }),
    el('td', { text: j.running ? 'running now' : j.last ? `${when(j.last.time_ms)} · ${j.last.status} · $${usd(j.last.cost_usd)}` : 'never' }),
    el('td', { text: verdicts(j) }),
    el('td', { text: j.deliver || '-' }),
    el('td', null, j.enabled && !j.running ? action('Run now', 'secondary', () => api('/v1/ui/jobs/run', { name: j.name })) : null)))
    : [el('tr', null, el('td', { colspan: '7', class: 'meta', text: 'No cron jobs in the config.' }))]));
  $('#reminders-table tbody').replaceChildren(...(d.reminders.length ? d.reminders.map((r) => el('tr', null,
    el('td', { text: `${r.id}. ${r.title}` }), el('td', { text: r.source }), el('td', { text: r.when.startsWith('cron ') ? inZone(r.when) : r.when }),
    el('td', { text: r.next_ms ? when(r.next_ms) : '-' }),
    el('td', { text: r.last_run_ms ? `${when(r.last_run_ms)} · ${r.last_status}${r.undelivered ? ' · not delivered yet' : ''}` : 'never' }),
    el('td', { text: r.status }),
    el('td', null,
      action(r.status === 'paused' ? 'Resume' : 'Pause', 'secondary',
        () => api('/v1/ui/reminders/pause', { id: r.id, source: r.source, paused: r.status !== 'paused' })),
      ' ', action('Delete', 'secondary', () => api('/v1/ui/reminders/delete', { id: r.id, source: r.source })))))
    : [el('tr', null, el('td', { colspan: '7', class: 'meta',
      text: d.reminders_enabled ? 'No reminders.' : 'Reminders are off (reminders.enabled).' }))]));
}

async function pageHealth() {
  show('health');
  const h = await api('/v1/ui/health');
  const up = h.uptime_s;
  const items = [
    ['Ready', h.ready ? 'yes' : 'no: ' + h.ready_why, h.ready],
    ['Version', `${h.version} (${h.revision})`],
    ['Uptime', `${Math.floor(up / 86400)}d ${Math.floor(up % 86400 / 3600)}h ${Math.floor(up % 3600 / 60)}m`],
    ['Telegram', h.telegram ? (h.telegram.ready ? 'polling' : 'not polling: ' + h.telegram.why) : 'not configured',
      h.telegram ? h.telegram.ready : undefined],
    ['Seccomp', h.sandbox.seccomp],
    ['Landlock', h.sandbox.landlock],
    ['Bleed breaker', h.breaker.open ? 'open: ' + h.breaker.why : 'closed', !h.breaker.open],
    ['Cockpit logins', String(h.ui_sessions)],
  ];
  $('#health-list').replaceChildren(...items.flatMap(([k, v, ok]) =>
    [el('dt', { text: k }), el('dd', ok === undefined ? { text: v } : { text: v, class: ok ? 'ok' : 'bad' })]));
  $('#mcp-table tbody').replaceChildren(...(h.mcp.length ? h.mcp.map((m) => el('tr', null,
    el('td', { text: m.name }), el('td', { text: m.transport }),
    el('td', { text: m.state + (m.error ? ': ' + m.error : ''), class: m.state === 'connected' ? 'ok' : 'bad' }),
    el('td', { class: 'n', text: String(m.tools) })))
    : [el('tr', null, el('td', { colspan: '4', class: 'meta', text: 'No MCP servers configured.' }))]));
  const log = await api('/v1/ui/log');
  $('#log-lines').textContent = !log.file ? 'No log file (log.file is off).'
    : log.lines.length ? log.lines.join('\n') : 'No warnings or errors in the recent log.';
  const a = await api('/v1/ui/audit');
  $('#audit-lines').textContent = !a.enabled ? 'The audit trail is off (audit.enabled).'
    : !a.lines.length ? 'No audit lines yet.'
      : a.lines.map((l) => Object.entries(l).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')).join('\n');
}

// ---- tasks and rate pools: read-only views of GET /v1/tasks and /v1/pools' JSON
function elapsed(t) {
  if (!t.started_ms) return 'not started';
  const s = Math.round(((t.ended_ms || Date.now()) - t.started_ms) / 1000);
  return s < 60 ? s + 's' : s < 3600 ? `${Math.floor(s / 60)}m${s % 60}s` : `${Math.floor(s / 3600)}h${Math.floor(s % 3600 / 60)}m`;
}

async function pageTasks() {
  show('tasks');
  const d = await api('/v1/ui/tasks');
  $('#tasks-table tbody').replaceChildren(...(d.data.length ? d.data.map((t) => el('tr', null,
    el('td', null, el('a', { href: '#task/' + t.id, text: `#${t.id} ${t.prompt}` })),
    el('td', { text: t.state + (t.doing ? ': ' + t.doing : '') }), el('td', { text: t.origin }),
    el('td', { text: t.lane || 'none' }),
    el('td', { text: elapsed(t) }), el('td', { class: 'n', text: usd(t.tree_spent_usd || 0) })))
    : [el('tr', null, el('td', { colspan: '6', class: 'meta', text: 'No tasks yet.' }))]));
}

function taskNode(t) {
  const sp = t.spent;
  return el('li', null,
    el('p', { class: 'title', text: `#${t.id} ${t.state}${t.doing ? ': ' + t.doing : ''} · ${t.elapsed} · lane ${t.lane || 'none'}` }),
    el('p', { class: 'meta', text: `${sp.model_calls} model calls · ${sp.tool_calls} tool calls · ${sp.tokens} tokens · $${usd(sp.usd)}` }),
    el('p', { class: 'meta', text: 'Goal' }), el('pre', { class: 'file', text: t.prompt }),
    t.result ? el('p', { class: 'meta', text: 'Result' }) : null,
    t.result ? el('pre', { class: 'file', text: t.result }) : null,
    t.why ? el('p', { class: 'bad', text: t.why }) : null,
    t.children && t.children.length ? el('ul', { class: 'tree' }, ...t.children.map(taskNode)) : null);
}

async function pageTask(id) {
  show('task');
  const t = await api('/v1/ui/tasks/' + encodeURIComponent(id));
  const tree = t.tree_spent ? ` · tree $${usd(t.tree_spent.usd)}` : '';
  $('#task-title').textContent = `Task #${t.id} (${t.origin})${tree} · lane ${t.lane || 'none'}`;
  $('#task-tree').replaceChildren(taskNode(t));
  const stop = $('#task-stop');
  stop.hidden = t.state !== 'queued' && t.state !== 'running';
  stop.onclick = async () => {
    try { await api('/v1/ui/tasks/stop', { id: t.id }); route(); } catch (e) { status(e.message); }
  };
}

async function pagePools() {
  show('pools');
  const d = await api('/v1/ui/pools');
  $('#pool-list').replaceChildren(...(d.pools.length ? d.pools.map((p) => {
    const classes = Object.keys(p.queue);
    return el('div', { class: 'pool' }, el('h2', { text: p.name }),
      el('dl', { class: 'kv' },
        el('dt', { text: 'Limits' }), el('dd', { text: `${p.tpm || '-'} tokens/min · ${p.rpm || '-'} requests/min` }),
        el('dt', { text: 'Window' }), el('dd', { text: `${p.used_tokens} tokens used · ${p.reserved_tokens} reserved · ${p.used_requests} requests · ${p.in_flight} in flight` }),
        p.blocked_s ? el('dt', { text: 'Blocked' }) : null, p.blocked_s ? el('dd', { class: 'bad', text: `${Math.ceil(p.blocked_s)}s more (the provider's 429)` }) : null,
        p.tpm ? el('dt', { text: 'Interactive' }) : null,
        p.tpm ? el('dd', { ...(p.interactive_peak_tokens > p.reserve_tokens ? { class: 'bad' } : {}), text: `${p.interactive_tokens} tokens in the last 60 s · peak ${p.interactive_peak_tokens} in the last hour · reserve ${p.reserve_tokens}` + (p.interactive_peak_tokens > p.reserve_tokens ? ' (the peak is above the reserve: raise interactive_reserve_pct)' : '') }) : null),
      el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': 'Queue of ' + p.name },
        el('table', null, el('thead', null, el('tr', null, ...['Class', 'Queued', 'Waits', 'Total wait s', 'Longest s', 'Deferred'].map((h) => el('th', { scope: 'col', text: h })))),
          el('tbody', null, ...classes.map((k) => el('tr', null, el('td', { text: k }),
            ...[p.queue[k], p.waits[k].count, p.waits[k].total_s.toFixed(1), p.waits[k].max_s.toFixed(1), p.waits[k].deferred]
              .map((v) => el('td', { class: 'n', text: String(v) }))))))));
  }) : [el('p', { class: 'meta', text: 'No rate pools: rate_pools and the deployments set no tpm or rpm.' })]));
}

// ---- draft cards (review before anything leaves): the draft with its marked sentences
function markedDraft(card) {
  const marks = [...card.inferred, ...card.unsourced.map((u) => u.slice(u.indexOf(': ') + 2))].filter((m) => m);
  const out = el('pre', { class: 'draft' });
  let plain = '';
  for (let i = 0; i < card.draft.length;) {
    const m = marks.filter((x) => card.draft.startsWith(x, i)).sort((x, y) => y.length - x.length)[0];
    if (m) {
      if (plain) out.append(plain);
      plain = '';
      out.append(el('mark', { text: m }));
      i += m.length;
    } else {
      plain += card.draft[i++];
    }
  }
  if (plain) out.append(plain);
  return out;
}

function draftCard(q, li, inChat) {
  const k = q.card;
  const list = (title, items) => items.length ? [el('strong', { text: title }), el('ul', null, ...items.map((x) => el('li', { text: x })))] : [];
  li.append(el('dl', { class: 'kv' },
    el('dt', { text: 'To' }), el('dd', { text: k.destination }),
    k.lane ? el('dt', { text: 'Lane' }) : null, k.lane ? el('dd', { text: k.lane }) : null,
    k.skill ? el('dt', { text: 'Skill' }) : null, k.skill ? el('dd', { text: k.skill }) : null,
    el('dt', { text: 'Draft' }), el('dd', { text: `${k.field ? k.field + ' · ' : ''}version ${k.version}` })),
  markedDraft(k), el('strong', { text: 'Sources' }), el('pre', { text: k.sources || '(none)' }),
  ...list('Inferred or unverified (marked)', k.inferred), ...list('never_invent without a source', k.unsourced),
  ...(k.note ? [el('p', { class: 'meta', text: k.note })] : []));
  const edit = el('textarea', { rows: '4', 'aria-label': 'New draft', hidden: '' });
  edit.value = k.draft;
  li.append(edit);
  return async (i, row) => {
    if (i !== 1) return api('/v1/ui/approvals/answer', { id: q.id, choice: i });
    if (edit.hidden) { edit.hidden = false; edit.focus(); for (const x of row.querySelectorAll('button')) x.disabled = false; return null; }
    const r = await api('/v1/ui/approvals/answer', { id: q.id, choice: 1, text: edit.value });
    if (!inChat) setTimeout(() => { loadApprovals().catch(() => {}); }, 500);
    return r;
  };
}

// ---- questions (approvals, ask_user): every source's, answered as Telegram's buttons answer
function questionItem(q, inChat) {
  const draft = q.kind === 'draft' && q.card;
  const li = el('li', { class: 'question', 'data-q': q.id },
    el('span', { class: 'title', text: draft ? 'Draft for review' : q.kind === 'approval' ? 'May I run this?' : q.kind === 'elicit' ? 'An MCP server asks' : 'Question' }),
    el('span', { class: 'meta', text: `${q.source}${q.session_id ? ' · session #' + q.session_id : ''} · no answer by ${when(q.expires_ms)} = no` }),
    draft ? null : el('pre', { text: q.text }));
  const send = draft ? draftCard(q, li, inChat) : null;
  const row = el('div', { class: 'row' });
  q.choices.forEach((c, i) => {
    const b = el('button', { type: 'button', class: i === 0 ? '' : 'secondary', text: c });
    b.addEventListener('click', async () => {
      for (const x of row.querySelectorAll('button')) x.disabled = true;
      try {
        if (send) { if ((await send(i, row)) === null) return; }
        else await api('/v1/ui/approvals/answer', { id: q.id, choice: i });
        // the stream's question_closed may have said how it ended already
        if (row.querySelector('button')) row.replaceChildren(el('span', { class: 'meta', text: '→ ' + c }));
      } catch (e) { status(e.message); row.replaceChildren(el('span', { class: 'meta', text: e.message })); }
      if (!inChat) setTimeout(() => { loadApprovals().catch(() => {}); }, 500);
    });
    row.append(b);
  });
  if (q.typed) { // an MCP server's field: typed, as the chat's next message in Telegram
    const reply = el('input', { type: 'text', 'aria-label': 'Your answer' });
    const b = el('button', { type: 'button', text: 'Send' });
    b.addEventListener('click', async () => {
      for (const x of row.querySelectorAll('button')) x.disabled = true;
      try {
        await api('/v1/ui/approvals/answer', { id: q.id, text: reply.value });
        row.replaceChildren(el('span', { class: 'meta', text: '→ ' + reply.value }));
      } catch (e) { status(e.message); row.replaceChildren(el('span', { class: 'meta', text: e.message })); }
      if (!inChat) setTimeout(() => { loadApprovals().catch(() => {}); }, 500);
    });
    row.prepend(reply, b);
  }
  li.append(row);
  return li;
}

// An MCP server's sign-in waiting for the owner: the same button as Telegram's
function signinItem(x) {
  return el('li', { class: 'question', 'data-signin': x.server },
    el('span', { class: 'title', text: `Sign in to ${x.server}` }),
    el('span', { class: 'meta', text: `the MCP server ${x.server} needs you to sign in · expires ${when(x.expires_ms)}` }),
    el('div', { class: 'row' }, el('a', { class: 'button', href: x.url, target: '_blank', rel: 'noopener noreferrer', text: `Sign in to ${x.server}` })));
}

async function loadApprovals() {
  const [d, s] = await Promise.all([api('/v1/ui/approvals'), api('/v1/ui/signins')]);
  const inStream = new Set([...document.querySelectorAll('#transcript [data-q]')].map((x) => x.dataset.q));
  const qs = d.questions.filter((q) => !inStream.has(q.id));
  $('#approval-list').replaceChildren(...s.signins.map(signinItem), ...qs.map((q) => questionItem(q, false)));
  $('#approvals').hidden = !qs.length && !s.signins.length;
}

let approvalTimer = 0;
function watchApprovals(on) {
  clearInterval(approvalTimer);
  approvalTimer = on ? setInterval(() => { if (csrf && !$('#chat').hidden) loadApprovals().catch(() => {}); }, 5000) : 0;
}


// ---- chat: POST /v1/ui/chat answers with server-sent events, read from the fetch body
let chatBusy = false;
let chatSession = 0; // an earlier session picked with Continue: the next message names it

function bubble(role, text) {
  const li = el('li', { class: role }, el('div', { class: 'role', text: role }));
  const p = el('p', { class: 'text', text: text || '' });
  li.append(p);
  $('#transcript').append(li);
  return p;
}

function chatState(busy) {
  chatBusy = busy;
  $('#send').disabled = busy;
  $('#stop').disabled = !busy;
}

async function sendChat(message) {
  bubble('user', message);
  let current = null; // the assistant text of the current model call
  let lastTool = null; // the details of the last tool call
  const item = $('#transcript');
  chatState(true);
  try {
    const r = await fetch('/v1/ui/chat', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(chatSession ? { message, session_id: chatSession } : { message }),
    });
    if (!r.ok) {
      let err = 'HTTP ' + r.status;
      try { err = (await r.json()).error || err; } catch (e) { /* keep the status */ }
      throw new Error(err);
    }
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.*)$/m.exec(block);
        const data = /^data: (.*)$/m.exec(block);
        if (!ev || !data) continue;
        const d = JSON.parse(data[1]);
        if (ev[1] === 'text') {
          if (!current) current = bubble('assistant', '');
          current.textContent += d.delta;
        } else if (ev[1] === 'tool_call') {
          current = null;
          lastTool = el('details', null, el('summary', { text: 'tool call: ' + d.name }), el('pre', { text: d.arguments }));
          item.append(el('li', { class: 'tool' }, lastTool));
        } else if (ev[1] === 'tool_result') {
          const last = lastTool; // an approval question may have come in between
          const pre = el('pre', { class: d.is_error ? 'bad' : '', text: 'result: ' + d.text + (d.cut ? ' …' : '') });
          if (last) last.append(pre);
        } else if (ev[1] === 'question') {
          current = null;
          item.append(questionItem(d, true));
        } else if (ev[1] === 'question_closed') {
          const q = item.querySelector(`[data-q="${d.id}"] .row`);
          if (q) q.replaceChildren(el('span', { class: 'meta', text: '→ ' + d.outcome }));
        } else if (ev[1] === 'done') {
          chatSession = 0; // it is the cockpit's current session now
          if (!current) current = bubble('assistant', d.stop === 'done' ? d.text : '');
          if (d.stop !== 'done' && d.text) current.parentNode.append(el('p', { class: 'meta', text: d.text }));
          current.parentNode.append(el('div', { class: 'usage', text:
            `${d.stop} · session #${d.session_id} · ${d.model} · ${d.prompt_tokens} + ${d.completion_tokens} tokens · $${usd(d.cost_usd)}` }));
        }
      }
    }
  } catch (e) {
    status(e.message);
  } finally {
    chatState(false);
  }
}

function showTranscript(messages) {
  $('#transcript').replaceChildren();
  for (const m of messages) {
    if (m.role === 'user' && m.content) bubble('user', m.content);
    else if (m.role === 'assistant' && m.content) bubble('assistant', m.content);
  }
}

// The cockpit's open session, shown when the page first opens (what "Send" continues).
async function chatHistory() {
  const d = await api('/v1/ui/sessions?limit=200');
  const open = d.sessions.find((x) => x.source === 'ui:cockpit' && !x.ended);
  if (!open || $('#transcript').childElementCount) return;
  showTranscript((await api('/v1/ui/session?id=' + open.id)).messages);
}

// Continue on a session view: the chat shows that session, and the next message names it.
function continueSession() {
  if (!viewed || !viewed.continuable || chatBusy) return;
  chatSession = viewed.session.id;
  chatLoaded = true;
  showTranscript(viewed.messages);
  location.hash = '#chat';
}

let chatLoaded = false;
async function pageChat() {
  show('chat');
  $('#message').focus();
  watchApprovals(true);
  await loadApprovals();
  if (!chatLoaded) {
    chatLoaded = true;
    await chatHistory();
  }
}

async function route() {
  if (!csrf) return;
  status('');
  watchApprovals(false);
  const [page, arg] = location.hash.slice(1).split('/');
  try {
    if (page === 'session' && arg) await pageSession(arg);
    else if (page === 'chat' || page === '') await pageChat();
    else if (page === 'spend') await pageSpend();
    else if (page === 'memory') await pageMemory();
    else if (page === 'jobs') await pageJobs();
    else if (page === 'health') await pageHealth();
    else if (page === 'tasks') await pageTasks();
    else if (page === 'task' && arg) await pageTask(arg);
    else if (page === 'pools') await pagePools();
    else await pageSessions();
  } catch (e) {
    if (csrf) status(e.message);
  }
}

async function start() {
  $('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('#login-error').textContent = '';
    try {
      const d = await api('/v1/ui/login', { password: $('#password').value });
      csrf = d.csrf;
      setZone(d.timezone);
      $('#password').value = '';
      route();
    } catch (e) {
      $('#login-error').textContent = e.message;
    }
  });
  $('#logout').addEventListener('click', async () => {
    try { await api('/v1/ui/logout', {}); } catch (e) { /* logged out either way */ }
    csrf = '';
    chatLoaded = false;
    chatSession = 0;
    $('#transcript').replaceChildren();
    show('login');
  });
  $('#search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    search($('#q').value.trim()).catch((e) => status(e.message));
  });
  $('#days').addEventListener('change', () => route());
  $('#chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const m = $('#message').value.trim();
    if (!m || chatBusy) return;
    $('#message').value = '';
    sendChat(m);
  });
  $('#stop').addEventListener('click', () => { api('/v1/ui/chat/stop', {}).catch((e) => status(e.message)); });
  $('#new-chat').addEventListener('click', async () => {
    try { await api('/v1/ui/chat/new', {}); chatSession = 0; $('#transcript').replaceChildren(); } catch (e) { status(e.message); }
  });
  $('#continue-session').addEventListener('click', continueSession);
  $('#resume').addEventListener('click', async () => {
    try { breaker(await api('/v1/ui/breaker/resume', {})); } catch (e) { status(e.message); }
  });
  memoryEditor();
  window.addEventListener('hashchange', route);
  const me = await api('/v1/ui/me');
  if (me.logged_in) {
    csrf = me.csrf;
    setZone(me.timezone);
    route();
  } else {
    show('login');
  }
}

document.addEventListener('DOMContentLoaded', () => { start().catch((e) => status(e.message)); });
