'use strict';
// The Node program that the client-side fault tests (test/fault-injection-client.test.js)
// run under the fault shim, one process per case: a whole session on one context (init,
// driverInfo, deviceInfo, configure on a fixture container, the next call, shutdown, a call
// after shutdown), each step's answer or error written as JSON to the file named in its
// configuration, with what the process has left open or running at its end. The shim is
// limited to the addon's own calls (NVC_FAULT_MODULE=nvc_ts.node): Node's and libuv's calls
// are never faulted, so anything that goes wrong here is the addon's handling of its fault.
const fs = require('node:fs');
const { init } = require('../../dist/index.js');
const { childrenOf, openFds, waitFor } = require('./proc');

const config = JSON.parse(process.argv[2]);
const result = { steps: {}, order: [] };

// The shim marks the fault in its log when it is met; the step under way then is the one
// that met it.
const fired = () => fs.existsSync(config.log) && fs.readFileSync(config.log, 'utf8').includes('!fault ');

function describeValue(name, value) {
  if (name === 'driverInfo' || name === 'after') return { version: value.version };
  if (name === 'deviceInfo') return { devices: value.length ?? Object.keys(value).length, json: JSON.stringify(value) };
  if (name === 'configure') return { ok: true };
  return { ok: true };
}

async function main() {
  const fdsBefore = openFds();
  let ctx = null;
  const step = async (name, fn) => {
    let s;
    try {
      s = { value: describeValue(name, await fn()) };
    } catch (e) {
      s = { error: { code: e.code ?? null, name: e.name, message: e.message, errno: e.errno ?? null, stack: e.stack } };
    }
    result.steps[name] = s;
    result.order.push(name);
    if (result.metAt === undefined && fired()) result.metAt = name;
    return s;
  };
  const started = await step('init', async () => (ctx = await init({ ...config.hostOptions, timeoutMs: config.timeoutMs })));
  if (!started.error) {
    await step('driverInfo', () => ctx.driverInfo());
    await step('deviceInfo', () => ctx.deviceInfo());
    await step('configure', async () => {
      const container = await ctx.container({ pid: config.pid, rootfs: config.rootfs });
      return ctx.configure(container, config.request);
    });
    await step('after', () => ctx.driverInfo());
    await step('shutdown', () => ctx.shutdown());
    await step('closed', () => ctx.driverInfo());
  }
  // What the session left: helper processes of this process (the service and the executor
  // are our children until they are reaped), and fds the addon opened and never closed.
  result.settled = await waitFor(() => childrenOf(process.pid).length === 0, 3000);
  result.children = childrenOf(process.pid);
  const before = new Set(fdsBefore);
  result.leakedFds = openFds()
    .filter((fd) => !before.has(fd))
    .map((fd) => {
      try {
        return `${fd} -> ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
      } catch {
        return `${fd}`;
      }
    })
    // openFds() itself reads /proc/self/fd through a directory fd that is gone by now.
    .filter((s) => !/^\d+$/.test(s));
  if (result.metAt === undefined && fired()) result.metAt = 'end';
}

main()
  .catch((e) => {
    result.crash = e.stack;
  })
  .finally(() => {
    fs.writeFileSync(config.out, JSON.stringify(result));
    // Nothing of ours may keep the event loop alive: exit on our own, the test waits for it.
  });
