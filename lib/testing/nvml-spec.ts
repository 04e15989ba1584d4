/** The spec file the mock NVML library reads to impersonate the simulated host's GPUs. */
import { hex, type SimulatedGpu, type SimulatedHostSpec, type SimulatedMigDevice } from './spec';

/** The MIG device's name as NVML reports it. */
function migName(g: SimulatedGpu, m: SimulatedMigDevice): string {
  return `${g.name} MIG ${m.profile ?? `${m.gpuInstance}.${m.computeInstance}`}`;
}

/** Renders the text the mock NVML library reads (format documented in native/mock-nvml/mock_nvml.c). */
export function formatMockNvmlSpec(spec: SimulatedHostSpec): string {
  const out: string[] = ['# Simulated host for the nvc-ts mock NVML (see native/mock-nvml/mock_nvml.c).', 'mock-nvml 1'];
  out.push(`driver ${spec.driverVersion}`, `cuda ${spec.cudaVersion}`);
  spec.gpus.forEach((g, i) => {
    const pci = [`0x${hex(g.pci.domain, 4)}`, `0x${hex(g.pci.bus, 2)}`, `0x${hex(g.pci.device, 2)}`];
    if (g.pciDeviceId !== undefined || g.pciSubsystemId !== undefined) pci.push(`0x${hex(g.pciDeviceId ?? 0, 8)}`);
    if (g.pciSubsystemId !== undefined) pci.push(`0x${hex(g.pciSubsystemId, 8)}`);
    out.push(
      '',
      `gpu ${i}`,
      `name ${g.name}`,
      `uuid ${g.uuid}`,
      `pci ${pci.join(' ')}`,
      `minor ${g.minor}`,
      `brand ${g.brand}`,
      `cc ${g.computeCapability[0]} ${g.computeCapability[1]}`,
    );
    if (g.persistenceMode !== undefined) out.push(`persistence ${g.persistenceMode}`);
    const migs = g.migDevices ?? [];
    // Room for the highest slot: a real GPU's maximum is at least 7, and every slot lies below it.
    const max = Math.max(7, migs.length, ...migs.map((m) => (m.slot ?? -1) + 1));
    if (g.mig === 'unsupported') out.push('mig unsupported');
    else out.push(`mig ${g.mig} ${max}`);
    for (const m of migs) {
      out.push(`migdev ${m.uuid} ${m.gpuInstance} ${m.computeInstance} ${migName(g, m)}`);
      if (m.slot !== undefined) out.push(`migslot ${m.slot}`);
    }
  });
  const faults = spec.faults ?? [];
  const delays = spec.delays ?? [];
  if (faults.length > 0 || delays.length > 0) out.push('');
  for (const f of faults) {
    let line = `fault ${f.fn} ${f.kind}`;
    if (f.kind === 'error') line += ` ${f.code ?? 999}`;
    if (f.kind === 'exit' && f.code !== undefined) line += ` ${f.code}`;
    if (f.device !== undefined) line += ` device ${f.device}`;
    out.push(line);
  }
  for (const d of delays) out.push(`delay ${d.fn} ${d.ms}`);
  return `${out.join('\n')}\n`;
}
