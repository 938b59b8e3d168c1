// The top-level `settings:` block of secretless.yml: broker-wide defaults that are not
// about one service. Checked key by key at load time (key and line in the error), like a
// connector's `config:` block, with the same defineSettings table.
import { defineSettings, durationMs, durationMsSetting, booleanSetting, oneOf, type Setting, type SettingsOf } from './setting-checks.js';

export const APPROVAL_MODES = ['never', 'ask'] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

const optionalFlag = (): Setting<boolean | undefined> => ({ check: booleanSetting, read: (v) => v as boolean | undefined });
const optionalDuration = (): Setting<number | undefined> => ({ check: durationMsSetting, read: (v) => v as number | undefined });

const definition = {
  /** Services without their own `approval:` use this. */
  approval: oneOf(APPROVAL_MODES, 'never'),
  /** An approval prompt nobody answers within this is a deny. */
  approvalTimeoutMs: durationMs(60_000),
  /** Lock when the screen locks / the machine sleeps (the desktop app tells the broker). Absent: on when some service asks. */
  lockOnScreenLock: optionalFlag(),
  lockOnSleep: optionalFlag(),
  /** Lock after no client connected to any service for this long. Absent: never. */
  lockAfterIdleMs: optionalDuration(),
};

export type BrokerSettings = SettingsOf<typeof definition>;

export const brokerSettingsSpec = defineSettings(definition);

export const defaultBrokerSettings = (): BrokerSettings => brokerSettingsSpec.parseSettings({});
