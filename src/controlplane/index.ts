/** The agent's control-plane client: HTTP client, long-poll loop, outbox shipper. See docs/outbox.md. */
export { type AccessState, ControlPlaneAccess } from './access.ts';
export { type ApiKeyProvider, ApiKeySource } from './api-key-source.ts';
export {
  ControlPlaneClient,
  type ControlPlaneClientOptions,
  type PolledActions,
  type SendInstancesResult,
} from './client.ts';
export {
  ApiKeyUnavailableError,
  ControlPlaneError,
  CpBadResponseError,
  CpConfigError,
  CpConflictError,
  CpInsecureUrlError,
  CpInvalidRequestError,
  CpNetworkError,
  CpNotFoundError,
  CpRateLimitedError,
  CpRequestRejectedError,
  CpResponseTooLargeError,
  CpServerError,
  CpTimeoutError,
  CpTlsError,
  CpUnauthorizedError,
} from './errors.ts';
export {
  OutboxShipper,
  type OutboxShipperCounters,
  type OutboxShipperHooks,
  type OutboxShipperOptions,
} from './outbox-shipper.ts';
export { PollLoop, type PollLoopCounters, type PollLoopOptions, runPollLoop } from './poll-loop.ts';
