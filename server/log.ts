/**
 * Structured logging: JSON lines with etcd-style fields (`level` as a word, ISO `ts`, `msg`), one
 * line per event, written synchronously so that both threads' lines stay whole and ordered per
 * thread and nothing is lost when the process exits.
 */
import pino from 'pino';

export type Logger = pino.Logger;
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export function createLogger(opts: { level: LogLevel; component: string; name: string }): Logger {
  return pino(
    {
      level: opts.level,
      base: { component: opts.component, member: opts.name },
      messageKey: 'msg',
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}
