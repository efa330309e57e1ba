/** The page's stylesheet, embedded as a string (see index-html.ts). */

/** style.css of the fleet page. */
export const STYLE_CSS = `
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#f1f5f9; --card:#fff; --accent:#2563eb; --ok:#15803d; --warn:#b45309; --bad:#b91c1c; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
.skip { position:absolute; left:-999px; } .skip:focus { left:8px; top:8px; background:#fff; padding:6px 10px; z-index:10; }
.top { display:flex; align-items:center; gap:20px; padding:10px 20px; background:#0f172a; color:#e2e8f0; }
.top h1 { margin:0; font-size:18px; letter-spacing:.02em; } .top h1 span { color:#93c5fd; font-weight:500; }
.summary { margin:0; flex:1; color:#cbd5e1; font-size:13px; }
.token { display:flex; gap:6px; align-items:center; } .token label { font-size:12px; color:#cbd5e1; }
.token input { width:180px; padding:4px 6px; border-radius:4px; border:1px solid #475569; background:#1e293b; color:#fff; }
.token button { padding:4px 10px; }
main { padding:14px 20px 30px; display:flex; flex-direction:column; gap:14px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; min-width:0; }
.card-head { display:flex; justify-content:space-between; align-items:center; }
h2 { font-size:16px; margin:0 0 8px; } h3 { font-size:14px; margin:10px 0 6px; } h4 { font-size:13px; margin:8px 0 4px; }
.cols { display:grid; grid-template-columns: 300px minmax(0,1fr); gap:14px; align-items:start; }
@media (max-width: 900px) { .cols { grid-template-columns: 1fr; } }
.scroll { overflow:auto; }
table { border-collapse:collapse; font-size:13px; }
caption { text-align:left; color:var(--muted); font-size:12px; padding-bottom:4px; }
th, td { padding:4px 8px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
thead th { font-size:12px; color:var(--muted); font-weight:600; white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
.fleet { width:100%; } .fleet tr.selected { background:#eff6ff; }
.cap { min-width:110px; } .cap-text { display:block; font-size:12px; white-space:nowrap; font-variant-numeric: tabular-nums; }
.bar { display:block; height:5px; background:#e2e8f0; border-radius:3px; overflow:hidden; margin:2px 0 3px; }
.bar > span { display:block; height:100%; background:#3b82f6; }
button { font:inherit; cursor:pointer; border-radius:5px; border:1px solid #94a3b8; background:#fff; color:var(--ink); padding:5px 12px; }
button:hover { background:#f8fafc; }
button:focus-visible, input:focus-visible, select:focus-visible, a:focus-visible { outline:3px solid #93c5fd; outline-offset:1px; }
button.primary { background:var(--accent); border-color:var(--accent); color:#fff; font-weight:600; width:100%; padding:8px; }
button.primary:hover { background:#1d4ed8; } button.primary:disabled { opacity:.6; cursor:progress; }
button.ghost { border-color:var(--line); font-size:12px; padding:3px 10px; }
button.danger { border-color:#fca5a5; color:var(--bad); font-size:12px; padding:3px 10px; }
.host-link, .vm-link { border:none; background:none; padding:0; color:var(--accent); font-weight:600; text-align:left; }
.host-link:hover, .vm-link:hover { text-decoration:underline; background:none; }
.vm-link { color:var(--ink); display:inline-flex; align-items:center; gap:6px; white-space:nowrap; }
.swatch { display:inline-block; width:12px; height:12px; border-radius:3px; border:1px solid rgba(0,0,0,.2); }
.field { display:flex; flex-direction:column; gap:2px; margin-bottom:9px; min-width:0; }
.field label { font-size:12px; font-weight:600; color:#334155; }
.field small { color:var(--muted); font-size:11px; }
.field input, .field select { font:inherit; padding:5px 7px; border:1px solid #cbd5e1; border-radius:5px; background:#fff; width:100%; }
.field input[aria-invalid="true"] { border-color:var(--bad); background:#fef2f2; }
.row2 { display:grid; grid-template-columns:1fr 1fr; gap:8px; }
.answer { margin-top:12px; padding:10px; border-radius:6px; border:1px solid var(--line); font-size:13px; overflow:auto; }
.answer h3 { margin-top:0; } .answer ul { margin:4px 0; padding-left:18px; } .answer li { margin-bottom:4px; } .answer.placed { border-color:#86efac; background:#f0fdf4; }
.answer.refused { border-color:#fcd34d; background:#fffbeb; } .answer.error { border-color:#fca5a5; background:#fef2f2; }
.facts { display:grid; grid-template-columns:max-content 1fr; gap:2px 10px; margin:6px 0; }
.facts dt { color:var(--muted); } .facts dd { margin:0; overflow-wrap:anywhere; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size:12px; }
.muted { color:var(--muted); } .small { font-size:11px; }
.tag { display:inline-block; font-size:11px; padding:0 6px; border-radius:8px; background:#e2e8f0; }
.tag.ok { background:#dcfce7; color:var(--ok); } .tag.claim { background:#fef3c7; color:var(--warn); }
.tag.displaced { background:#fee2e2; color:#b91c1c; }
.notice { padding:8px 12px; border-radius:6px; background:#fef2f2; border:1px solid #fca5a5; color:#7f1d1d; }
.host-cap { display:flex; flex-wrap:wrap; gap:6px 18px; font-size:13px; margin-bottom:6px; }
.host-cap b { font-variant-numeric: tabular-nums; }
.legend { display:flex; flex-wrap:wrap; gap:4px 14px; font-size:12px; color:#334155; margin:4px 0 8px; align-items:center; }
.legend .key { display:inline-flex; align-items:center; gap:5px; }
.legend .box { width:13px; height:13px; border:1px solid #94a3b8; border-radius:2px; display:inline-block; }
.legend .reserved { background: repeating-linear-gradient(45deg,#94a3b8 0 2px,#cbd5e1 2px 4px); }
.legend .off { background:#e5e7eb; }
.drawing { overflow:auto; border:1px solid var(--line); border-radius:6px; padding:8px; background:#fff; }
.drawing svg { display:block; }
.drawing .pu[data-vm], .drawing .device[data-vm] { cursor:pointer; }
.below { display:flex; flex-wrap:wrap; gap:18px; align-items:flex-start; } .below .grow { flex:1; min-width:320px; }
.heatmap td.heat { text-align:center; min-width:34px; font-variant-numeric: tabular-nums; border:1px solid #fff; }
.heatmap th { text-align:center; } .heatmap .corner { font-weight:400; font-size:11px; }
.vms tr.selected { background:#eff6ff; }
.explanation { border-top:1px solid var(--line); margin-top:10px; padding-top:4px; }
.explanation ul { margin:4px 0; padding-left:20px; }
#explain .explanation { border:1px solid #bfdbfe; background:#f8fbff; border-radius:6px; padding:4px 12px 10px; }
.explain-head { display:flex; align-items:center; gap:10px; justify-content:space-between; }
.rebalance { border-top:1px solid var(--line); margin-top:12px; padding-top:6px; }
.rebalance-form { display:flex; flex-wrap:wrap; gap:8px; align-items:center; font-size:13px; }
.plan-drawing { overflow:auto; border:1px solid var(--line); border-radius:6px; padding:8px; background:#fff; display:inline-block; max-width:100%; }
.plan-drawing svg { display:block; }
.plan-steps { margin:6px 0; padding-left:22px; font-size:13px; } .plan-steps li { margin:3px 0; }
.plan-summary { font-size:13px; margin:6px 0; }
`;
