/**
 * `nvc-ts info [--csv|--json]`: driver version and GPUs, printed line for line like `nvidia-container-cli info`.
 */
import { escapeControls, terminalSafeJson } from '../../quote';
import type { Device, DriverInfo } from '../../types';
import { JSON_SCHEMA_VERSION, UsageError } from '../format-error';
import type { CommandSession, CommandSpec, OptionValues } from '../types';

export type InfoFormat = 'text' | 'csv' | 'json';

export interface InfoFlags {
  format: InfoFormat;
}

const label = (name: string): string => name.padEnd(15);

/** NVML's strings come from the driver (or whatever stands in for it): shown escaped, never raw on a terminal. */
const shown = (value: string): string => escapeControls(value);

/** The reference's default layout: labels padded to 15 columns, one blank line before each GPU. */
export function formatInfoText(driver: DriverInfo, devices: Device[]): string {
  const lines = [`${label('NVRM version:')} ${shown(driver.version)}`, `${label('CUDA version:')} ${shown(driver.cudaVersion)}`];
  devices.forEach((gpu, position) => {
    lines.push(
      '',
      `${label('Device Index:')} ${position}`,
      `${label('Device Minor:')} ${gpu.deviceNode.minor}`,
      `${label('Model:')} ${shown(gpu.model)}`,
      `${label('Brand:')} ${shown(gpu.brand)}`,
      `${label('GPU UUID:')} ${shown(gpu.uuid)}`,
      `${label('Bus Location:')} ${shown(gpu.busId)}`,
      `${label('Architecture:')} ${shown(gpu.architecture)}`,
    );
  });
  return `${lines.join('\n')}\n`;
}

/** The reference's `--csv` layout (fields are not quoted, as in the reference). */
export function formatInfoCsv(driver: DriverInfo, devices: Device[]): string {
  const lines = [
    'NVRM version,CUDA version',
    `${shown(driver.version)},${shown(driver.cudaVersion)}`,
    '',
    'Device Index,Device Minor,Model,Brand,GPU UUID,Bus Location,Architecture',
    ...devices.map((gpu, position) => [position, gpu.deviceNode.minor, ...[gpu.model, gpu.brand, gpu.uuid, gpu.busId, gpu.architecture].map(shown)].join(',')),
  ];
  return `${lines.join('\n')}\n`;
}

export interface InfoJson {
  driver: { version: string; cudaVersion: string };
  devices: Array<{
    index: number;
    minor: number;
    model: string;
    brand: string;
    uuid: string;
    busId: string;
    architecture: string;
    deviceNode: string;
    mig: {
      capable: boolean;
      enabled: boolean;
      devices: Array<{
        index: number;
        uuid: string;
        gpuInstance: number;
        computeInstance: number;
        giCapsPath: string;
        ciCapsPath: string;
      }>;
    };
  }>;
}

export function infoJson(driver: DriverInfo, devices: Device[]): InfoJson {
  return {
    driver: { version: driver.version, cudaVersion: driver.cudaVersion },
    devices: devices.map((gpu) => ({
      index: gpu.index,
      minor: gpu.minor,
      model: gpu.model,
      brand: gpu.brand,
      uuid: gpu.uuid,
      busId: gpu.busId,
      architecture: gpu.architecture,
      deviceNode: gpu.deviceNode.path,
      mig: {
        capable: gpu.mig.capable,
        enabled: gpu.mig.enabled,
        devices: gpu.mig.devices.map((mig) => ({
          index: mig.index,
          uuid: mig.uuid,
          gpuInstance: mig.gpuInstance,
          computeInstance: mig.computeInstance,
          giCapsPath: mig.giCapsPath,
          ciCapsPath: mig.ciCapsPath,
        })),
      },
    })),
  };
}

export function formatInfoJson(driver: DriverInfo, devices: Device[]): string {
  return `${terminalSafeJson(JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, ...infoJson(driver, devices) }, null, 2))}\n`;
}

export function formatInfo(format: InfoFormat, driver: DriverInfo, devices: Device[]): string {
  switch (format) {
    case 'csv':
      return formatInfoCsv(driver, devices);
    case 'json':
      return formatInfoJson(driver, devices);
    default:
      return formatInfoText(driver, devices);
  }
}

export const infoCommand: CommandSpec<InfoFlags> = {
  name: 'info',
  summary: 'Report the driver version and the GPUs it detected',
  usage: [
    'nvc-ts [GLOBAL OPTIONS] info [--csv | --json]',
    '',
    '  --csv    CSV output, as nvidia-container-cli info --csv',
    '  --json   JSON output: { driver: { version, cudaVersion }, devices: [...] }',
  ],
  options: {
    csv: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  parse(values: OptionValues): InfoFlags {
    if (values['csv'] === true && values['json'] === true) {
      throw new UsageError('options --csv and --json cannot be combined');
    }
    return { format: values['csv'] === true ? 'csv' : values['json'] === true ? 'json' : 'text' };
  },
  async run(session: CommandSession, flags: InfoFlags): Promise<void> {
    const [driver, devices] = await session.phase('detection', async () => [await session.driverInfo(), await session.deviceInfo()] as const);
    session.write(formatInfo(flags.format, driver, devices));
  },
};
