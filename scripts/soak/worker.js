'use strict';
// A worker thread of the soak: its own contexts on the same simulated host, opened, asked
// and closed in a loop until the main thread says stop; counts what it did.
const { parentPort, workerData } = require('node:worker_threads');
const { init } = require('../../dist/index.js');

let stop = false;
parentPort.on('message', (m) => {
  if (m === 'stop') stop = true;
});

(async () => {
  let calls = 0;
  while (!stop) {
    const ctx = await init(workerData.options);
    try {
      const [driver, devices] = await Promise.all([ctx.driverInfo(), ctx.deviceInfo()]);
      if (!driver.version || devices.length === 0) throw new Error('a worker got an empty answer');
      calls += 2;
    } finally {
      await ctx.shutdown();
    }
  }
  parentPort.postMessage({ calls });
})().catch((e) => {
  parentPort.postMessage({ error: e.stack || String(e) });
});
