/**
 * A QMP client small enough for `node -e` inside a guest: connects to the socket given, negotiates,
 * sends each command given (JSON) and prints their answers as one JSON array. A test asks QEMU
 * itself with it, so that QEMU's answer is not read through numaplan's own QMP client. A connection
 * QEMU drops once every answer is in (it does after `quit`) is no error.
 *
 *   node -e "$QMP_SCRIPT" /tmp/vm.qmp '{"execute":"query-cpus-fast"}'
 */
export const QMP_SCRIPT = [
  "const net = require('net');",
  'const [sock, ...cmds] = process.argv.slice(1);',
  'const s = net.connect(sock); let buf = ""; const out = []; let sent = false;',
  "s.on('error', (e) => { if (out.length <= cmds.length) { console.error(e.message); process.exit(1); } });",
  "s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { const line = buf.slice(0, i); buf = buf.slice(i + 1); const m = JSON.parse(line);",
  "  if (m.QMP && !sent) { sent = true; s.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\\n'); for (const c of cmds) s.write(c + '\\n'); continue; }",
  "  if ('return' in m || 'error' in m) { out.push(m); if (out.length === cmds.length + 1) { console.log(JSON.stringify(out.slice(1))); s.end(); } } } });",
].join(' ');
