/** The procfs files the discovery code reads, as the 580 open kernel module writes them on the GPU machine. */
import { MIG_CONFIG_MINOR, MIG_MONITOR_MINOR, migCapabilityMinor, SIMULATED_MAJORS } from './devices';
import { hex, type SimulatedGpu, type SimulatedHostSpec } from './spec';
import { Tree } from './tree';

const PARAMS = [
  'ResmanDebugLevel: 4294967295',
  'RmLogonRC: 1',
  'ModifyDeviceFiles: 1',
  'DeviceFileUID: 0',
  'DeviceFileGID: 0',
  'DeviceFileMode: 438',
  'InitializeSystemMemoryAllocations: 1',
  'UsePageAttributeTable: 4294967295',
  'EnableMSI: 1',
  'EnablePCIeGen3: 0',
  'MemoryPoolSize: 0',
  'KMallocHeapMaxSize: 0',
  'VMallocHeapMaxSize: 0',
  'IgnoreMMIOCheck: 0',
  'EnableStreamMemOPs: 0',
  'EnableUserNUMAManagement: 1',
  'NvLinkDisable: 1',
  'RmProfilingAdminOnly: 0',
  'PreserveVideoMemoryAllocations: 0',
  'EnableS0ixPowerManagement: 0',
  'S0ixPowerManagementVideoMemoryThreshold: 256',
  'DynamicPowerManagement: 3',
  'DynamicPowerManagementVideoMemoryThreshold: 200',
  'RegisterPCIDriver: 1',
  'EnablePCIERelaxedOrderingMode: 0',
  'EnableResizableBar: 0',
  'EnableGpuFirmware: 18',
  'EnableGpuFirmwareLogs: 2',
  'RmNvlinkBandwidthLinkCount: 0',
  'EnableDbgBreakpoint: 0',
  'OpenRmEnableUnsupportedGpus: 1',
  'DmaRemapPeerMmio: 1',
  'ImexChannelCount: 2048',
  'CreateImexChannel0: 0',
  'GrdmaPciTopoCheckOverride: 0',
  'CoherentGPUMemoryMode: ""',
  'RegistryDwords: ""',
  'RegistryDwordsPerDevice: ""',
  'RmMsg: ""',
  'GpuBlacklist: ""',
  'TemporaryFilePath: ""',
  'ExcludedGpus: ""',
];

function procDevices(): string {
  const M = SIMULATED_MAJORS;
  const chars: [number, string][] = [
    [1, 'mem'],
    [4, '/dev/vc/0'],
    [4, 'tty'],
    [4, 'ttyS'],
    [5, '/dev/tty'],
    [5, '/dev/console'],
    [5, '/dev/ptmx'],
    [7, 'vcs'],
    [10, 'misc'],
    [13, 'input'],
    [128, 'ptm'],
    [136, 'pts'],
    [M.nvidia, 'nvidia'],
    [M.nvidia, 'nvidiactl'],
    [M.nvidiaUvm, 'nvidia-uvm'],
    [M.nvidiaNvswitch, 'nvidia-nvswitch'],
    [M.nvidiaNvlink, 'nvidia-nvlink'],
    [M.nvidiaCaps, 'nvidia-caps'],
    [M.nvidiaCapsImexChannels, 'nvidia-caps-imex-channels'],
    [243, 'hidraw'],
    [248, 'bsg'],
    [249, 'watchdog'],
    [250, 'ptp'],
    [251, 'pps'],
  ];
  const blocks: [number, string][] = [
    [7, 'loop'],
    [254, 'virtblk'],
    [259, 'blkext'],
  ];
  const fmt = ([n, name]: [number, string]): string => `${String(n).padStart(3)} ${name}`;
  return `Character devices:\n${chars.map(fmt).join('\n')}\n\nBlock devices:\n${blocks.map(fmt).join('\n')}\n`;
}

function capabilityFile(minor: number, mode: number): string {
  return `DeviceFileMinor: ${minor}\nDeviceFileMode: ${mode}\nDeviceFileModify: 1\n`;
}

function migMinorsFile(): string {
  const lines = [`config ${MIG_CONFIG_MINOR}`, `monitor ${MIG_MONITOR_MINOR}`];
  for (let g = 0; g < 32; g++) {
    for (let gi = 0; gi < 15; gi++) {
      lines.push(`gpu${g}/gi${gi}/access ${migCapabilityMinor(g, gi)}`);
      for (let ci = 0; ci < 8; ci++) lines.push(`gpu${g}/gi${gi}/ci${ci}/access ${migCapabilityMinor(g, gi, ci)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** /proc/driver/nvidia/gpus/<bus location>/information, with its tabs. */
function gpuInformation(g: SimulatedGpu, spec: SimulatedHostSpec, irq: number): string {
  const busLocation = `${hex(g.pci.domain, 4)}:${hex(g.pci.bus, 2)}:${hex(g.pci.device, 2)}.0`;
  return [
    `Model: \t\t ${g.name}`,
    `IRQ:   \t\t ${irq}`,
    `GPU UUID: \t ${g.uuid}`,
    `Video BIOS: \t 96.00.da.00.0c`,
    `Bus Type: \t PCIe`,
    `DMA Size: \t 52 bits`,
    `DMA Mask: \t 0xfffffffffffff`,
    `Bus Location: \t ${busLocation}`,
    `Device Minor: \t ${g.minor}`,
    `GPU Firmware: \t ${spec.driverVersion}`,
    `GPU Excluded:\t No`,
    '',
  ].join('\n');
}

export async function writeProcfs(procRoot: string, spec: SimulatedHostSpec): Promise<void> {
  const ver = spec.driverVersion;
  const p = new Tree(procRoot);
  await p.write('devices', procDevices(), 0o444);
  // The driver's modules as the GPU machine has them loaded (nvc-ts -k finds nothing to do).
  await p.write('modules', 'nvidia_uvm 2076672 0 - Live 0x0000000000000000\nnvidia 14393344 1 nvidia_uvm, Live 0x0000000000000000\n', 0o444);
  await p.write('driver/nvidia/params', `${PARAMS.join('\n')}\n`, 0o444);
  await p.write(
    'driver/nvidia/version',
    `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  ${ver}  Release Build  (nvc-ts@simulated)  \nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14) \n`,
    0o444,
  );
  await p.write('driver/nvidia/registry', 'Binary: ""\n', 0o444);
  for (const [i, g] of spec.gpus.entries()) {
    const bus = `${hex(g.pci.domain, 4)}:${hex(g.pci.bus, 2)}:${hex(g.pci.device, 2)}.0`;
    await p.write(`driver/nvidia/gpus/${bus}/information`, gpuInformation(g, spec, 41 + i), 0o444);
  }
  await p.write('driver/nvidia/capabilities/mig/config', capabilityFile(MIG_CONFIG_MINOR, 0o400), 0o444);
  await p.write('driver/nvidia/capabilities/mig/monitor', capabilityFile(MIG_MONITOR_MINOR, 0o444), 0o444);
  await p.write('driver/nvidia/capabilities/fabric-imex-mgmt', capabilityFile(4323, 0o400), 0o444);
  for (const g of spec.gpus) {
    if (g.mig === 'unsupported') continue;
    await p.mkdir(`driver/nvidia/capabilities/gpu${g.minor}/mig`);
    for (const m of g.migDevices ?? []) {
      const giMinor = migCapabilityMinor(g.minor, m.gpuInstance);
      const ciMinor = migCapabilityMinor(g.minor, m.gpuInstance, m.computeInstance);
      const giDir = `driver/nvidia/capabilities/gpu${g.minor}/mig/gi${m.gpuInstance}`;
      if (giMinor !== null) await p.write(`${giDir}/access`, capabilityFile(giMinor, 0o444), 0o444);
      if (ciMinor !== null) await p.write(`${giDir}/ci${m.computeInstance}/access`, capabilityFile(ciMinor, 0o444), 0o444);
    }
  }
  await p.write('driver/nvidia-caps/mig-minors', migMinorsFile(), 0o444);
}
