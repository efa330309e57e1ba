/**
 * The page's HTML, embedded as a string so the service needs no asset directory at run time (the
 * compiled client scripts come from the build output next to `serve.js`). No external resources:
 * the machine running the service may have no internet.
 */

/** index.html of the fleet page. */
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>numaplan fleet</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/web/style.css">
<script type="module" src="/web/client/main.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <h1>numaplan <span>fleet</span></h1>
  <p id="summary" class="summary" aria-live="polite"></p>
  <form id="token-form" class="token">
    <label for="token">Token</label>
    <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" placeholder="bearer token">
    <button type="submit">Use</button>
  </form>
</header>
<main id="main">
  <div id="notice" class="notice" role="alert" hidden></div>
  <section class="card" aria-labelledby="fleet-h">
    <div class="card-head"><h2 id="fleet-h">Fleet</h2><button type="button" id="refresh" class="ghost">Refresh</button></div>
    <div id="fleet" class="scroll"><p class="muted">Loading…</p></div>
  </section>
  <div class="cols">
    <section class="card place" aria-labelledby="place-h">
      <h2 id="place-h">Place a VM</h2>
      <form id="place-form" novalidate>
        <div class="field"><label for="f-name">Name</label>
          <input id="f-name" name="name" required autocomplete="off" spellcheck="false" aria-describedby="f-name-help">
          <small id="f-name-help">letters, digits, "_", "." and "-"</small></div>
        <div class="row2">
          <div class="field"><label for="f-vcpus">vCPUs</label><input id="f-vcpus" name="vcpus" type="number" min="1" max="8192" required value="4"></div>
          <div class="field"><label for="f-memory">Memory</label><input id="f-memory" name="memory" required value="8G" spellcheck="false" aria-describedby="f-memory-help">
            <small id="f-memory-help">e.g. 512M, 16G</small></div>
        </div>
        <div class="row2">
          <div class="field"><label for="f-pages">Pages</label>
            <select id="f-pages" name="pages"><option value="4K">4K</option><option value="2M">2M</option><option value="1G">1G</option><option value="auto">auto</option></select></div>
          <div class="field"><label for="f-numa">NUMA policy</label>
            <select id="f-numa" name="numa"><option value="auto">auto</option><option value="strict">strict (one node)</option><option value="preferred">preferred</option><option value="interleave">interleave</option></select></div>
        </div>
        <div class="field"><label for="f-devices">Devices</label>
          <input id="f-devices" name="devices" spellcheck="false" autocomplete="off" placeholder="rdma-vf:1:required+gpu" aria-describedby="f-devices-help">
          <small id="f-devices-help">kind[:count][:required|preferred|none], joined by "+"; kinds: rdma, rdma-vf, nic, vf, gpu, pci:ADDRESS</small></div>
        <div class="field"><label for="f-host">Host</label>
          <select id="f-host" name="host"><option value="">any (the service picks)</option></select></div>
        <button type="submit" id="place-button" class="primary">Place</button>
      </form>
      <div id="answer" aria-live="polite"></div>
    </section>
    <section class="card host" aria-labelledby="host-h">
      <h2 id="host-h">Host</h2>
      <div id="host-cap" class="host-cap"></div>
      <div id="legend" class="legend"></div>
      <div id="host-drawing" class="drawing"></div>
      <div class="below">
        <section aria-labelledby="dist-h"><h3 id="dist-h">Distance matrix</h3><div id="distances" class="scroll"></div></section>
        <section aria-labelledby="vms-h" class="grow"><h3 id="vms-h">Who sits where</h3><div id="vms" class="scroll"></div></section>
      </div>
      <div id="explain" aria-live="polite"></div>
      <section class="rebalance" aria-labelledby="plan-h">
        <h3 id="plan-h">Rebalancing plan</h3>
        <form id="plan-form" class="rebalance-form" novalidate>
          <label for="p-horizon">Gain counted over</label>
          <select id="p-horizon" name="horizon"><option value="10m">10 min</option><option value="1h">1 hour</option><option value="1d">1 day</option></select>
          <label for="p-rate">migrating at</label>
          <select id="p-rate" name="rate"><option value="1G/s">1 GiB/s</option><option value="500M/s">500 MiB/s</option><option value="4G/s">4 GiB/s</option></select>
          <button type="submit" id="plan-button">Plan (dry run)</button>
        </form>
        <div id="plan" aria-live="polite"></div>
      </section>
    </section>
  </div>
</main>
<noscript><p class="notice">This page needs JavaScript; the API is documented at <a href="/openapi.json">/openapi.json</a>.</p></noscript>
</body>
</html>
`;
