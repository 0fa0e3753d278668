// The lease port lives in core/leases.ts (telemetry streams have owners too); delivery's
// modules and tests import it from here as before.
export * from '../core/leases.js'
