import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * JSON logs (pino). Anything that could hold the API key or a token is redacted by path;
 * the client also never puts the key into messages or errors in the first place.
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? 'clusteropt-agent',
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: {
      paths: [
        'apiKey',
        '*.apiKey',
        'authorization',
        '*.authorization',
        'headers.authorization',
        '*.headers.authorization',
        'token',
        '*.token',
      ],
      censor: '[REDACTED]',
    },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
