import type { FromSchema } from 'json-schema-to-ts'
import { describe, expectTypeOf, it } from 'vitest'
import type { Config, configSchema } from '../../src/config/schema.js'

// The Config interface (with its field comments) and the JSON Schema that validates it sit
// side by side in config/schema.ts. This holds them together: the type ajv's output has
// (defaults filled in, so a field with a default is always there) must be Config, exactly.
// `npm test` type-checks it (tsc --noEmit): a field added, renamed or retyped in one and not
// in the other fails the build.

/** The same type written out (`A & B` as one object), so that only fields and their types count. */
type Flat<T> = T extends (...args: never[]) => unknown ? T : T extends object ? { [K in keyof T]: Flat<T[K]> } : T

type FromConfigSchema = FromSchema<typeof configSchema>

describe('the config type', () => {
  it('is what the config schema validates, field for field', () => {
    expectTypeOf<Flat<FromConfigSchema>>().toEqualTypeOf<Flat<Config>>()
  })
})
