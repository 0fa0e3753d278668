import type { FastifyInstance } from 'fastify'
import { NAME_PATTERN, NAME_RULE } from '../../core/names.js'
import { COMPATIBILITY_MODES, type CompatibilityMode } from '../../schemas/compatibility.js'
import type { HttpDeps } from '../deps.js'
import { ERROR_ANSWERS, json, list, params } from '../schemas.js'

// The schema registry (README "Schema registry"): subjects of numbered, immutable JSON Schema
// 2020-12 versions, each new one checked against the subject's compatibility mode.

const SUBJECT = { type: 'string', description: 'The schema subject' } as const
const NEW_SUBJECT = {
  type: 'string',
  pattern: NAME_PATTERN,
  description: `The schema subject: ${NAME_RULE}`,
  'x-error': { code: 'SCHEMA_INVALID', message: `subject '{value}' is invalid: use ${NAME_RULE}` }
} as const
const MODE = { type: 'string', enum: COMPATIBILITY_MODES, description: "Confluent's modes: backward (the new version reads data of the previous one; the default), forward (the previous reads the new), full (both), none", 'x-error': { problem: `must be one of ${COMPATIBILITY_MODES.join(', ')}` } } as const
const SCHEMA_DOC = { type: ['object', 'boolean'], description: 'A JSON Schema (draft 2020-12) for the events\' `data`', 'x-error': { problem: 'must be a JSON Schema (an object or a boolean)' } } as const

const REGISTER_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['schema'],
  'x-error': { code: 'BODY_INVALID', style: 'quoted', problem: 'must be a JSON object' },
  properties: { schema: SCHEMA_DOC, compatibility: { ...MODE, description: `Sets the subject's mode (kept for later versions); this version is checked under it. ${MODE.description}` } }
} as const

const CHECK_BODY = {
  type: 'object',
  additionalProperties: false,
  required: ['schema'],
  'x-error': { code: 'BODY_INVALID', style: 'quoted', problem: 'must be a JSON object' },
  properties: {
    schema: SCHEMA_DOC,
    compatibility: { ...MODE, description: "Check under this mode instead of the subject's" },
    history: {
      type: 'object',
      additionalProperties: false,
      required: ['topic'],
      description: "Also check the data of a topic's last events: those of `type`, else of the types the topic binds to this subject, else all",
      properties: {
        topic: { type: 'string', description: 'The namespace topic' },
        events: { type: 'integer', minimum: 1, maximum: 100_000, default: 1000, description: 'How many of the last events (at most 100,000)' },
        type: { type: 'string', minLength: 1, description: 'Only events of this CloudEvent type' }
      }
    }
  }
} as const

const SUBJECT_VIEW = {
  type: 'object',
  properties: {
    subject: { type: 'string' },
    compatibility: { type: 'string', enum: COMPATIBILITY_MODES },
    latest: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' }
  }
} as const

const REGISTERED = {
  type: 'object',
  required: ['subject', 'version', 'id'],
  properties: { subject: { type: 'string' }, version: { type: 'integer', minimum: 1 }, id: { type: 'string', description: 'The content id: the same schema has the same id in every subject' } }
} as const

const VERSION_VIEW = {
  type: 'object',
  properties: {
    subject: { type: 'string' },
    version: { type: 'integer' },
    id: { type: 'string' },
    schema: { description: 'The JSON Schema as registered' },
    dataschema: { type: 'string', description: 'The URI ingest puts in `dataschema`: urn:gridgate:schema:{subject}:{version}' },
    createdAt: { type: 'string', format: 'date-time' }
  }
} as const

const CHECK_RESULT = {
  type: 'object',
  required: ['compatible', 'compatibility', 'version'],
  properties: {
    compatible: { type: 'boolean', description: 'Compatible with the latest version and, when asked, every checked event passed' },
    compatibility: { type: 'string', enum: COMPATIBILITY_MODES },
    version: { type: ['integer', 'null'], description: 'The version compared with; null for a subject without versions' },
    breakingChange: {
      type: 'object',
      properties: { direction: { type: 'string' }, path: { type: 'string' }, kind: { type: 'string' }, reason: { type: 'string' }, message: { type: 'string' } }
    },
    history: {
      type: 'object',
      properties: {
        topic: { type: 'string' },
        checked: { type: 'integer' },
        failed: { type: 'integer' },
        failures: { type: 'array', items: { type: 'object', properties: { offset: { type: 'integer' }, type: { type: 'string' }, error: { type: 'string' } } } }
      }
    }
  }
} as const

export async function schemaRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const tags = ['Schema registry']

  app.get('/schemas', {
    schema: { tags, operationId: 'Schemas_ListSubjects', summary: 'List the schema subjects', response: { 200: json('The subjects', list(SUBJECT_VIEW)), ...ERROR_ANSWERS } }
  }, async () => ({ value: await deps.schemas.subjects() }))

  app.get<{ Params: { subject: string } }>('/schemas/:subject([^:]+)', {
    schema: { tags, operationId: 'Schemas_GetSubject', summary: 'A subject: its mode and latest version', params: params({ subject: SUBJECT }), response: { 200: json('The subject', SUBJECT_VIEW), ...ERROR_ANSWERS } }
  }, async (req) => await deps.schemas.subject(req.params.subject))

  app.put<{ Params: { subject: string }, Body: { schema: unknown, compatibility?: CompatibilityMode } }>('/schemas/:subject/versions', {
    schema: {
      tags,
      operationId: 'Schemas_Register',
      summary: 'Register a schema as the next version of a subject',
      description: 'A schema identical to a version the subject has answers that version (200). A schema that breaks the subject\'s compatibility mode against the latest version is refused with 409 SCHEMA_INCOMPATIBLE naming the first breaking change.',
      params: params({ subject: NEW_SUBJECT }),
      body: REGISTER_BODY,
      response: { 200: json('The same schema is already this version', REGISTERED), 201: json('Registered as a new version', REGISTERED), ...ERROR_ANSWERS }
    }
  }, async (req, reply) => {
    const { created, ...answer } = await deps.schemas.register(req.params.subject, req.body.schema, req.body.compatibility)
    return reply.code(created ? 201 : 200).send(answer)
  })

  app.get<{ Params: { subject: string, version: string } }>('/schemas/:subject/versions/:version', {
    schema: {
      tags,
      operationId: 'Schemas_GetVersion',
      summary: 'One version of a subject, or its latest',
      params: params({ subject: SUBJECT, version: { type: 'string', pattern: '^(latest|[1-9][0-9]{0,8})$', description: 'A version number or `latest`', 'x-error': { code: 'SCHEMA_NOT_FOUND', message: "version '{value}' does not exist: give a version number or 'latest'" } } }),
      response: { 200: json('The version', VERSION_VIEW), ...ERROR_ANSWERS }
    }
  }, async (req) => await deps.schemas.version(req.params.subject, req.params.version === 'latest' ? 'latest' : Number(req.params.version)))

  app.post<{ Params: { subject: string }, Body: { schema: unknown, compatibility?: CompatibilityMode, history?: { topic: string, events: number, type?: string } } }>('/schemas/:subject([^:]+)::check', {
    schema: {
      tags,
      operationId: 'Schemas_Check',
      summary: 'Test a draft against the subject\'s compatibility, and optionally against a topic\'s history',
      description: 'Nothing is registered. `compatible` is false when the draft breaks the mode against the latest version, or when any checked event of the history fails it.',
      params: params({ subject: NEW_SUBJECT }),
      body: CHECK_BODY,
      response: { 200: json('The verdict', CHECK_RESULT), ...ERROR_ANSWERS }
    }
  }, async (req) => await deps.schemas.check(req.params.subject, req.body.schema, { compatibility: req.body.compatibility, history: req.body.history }))
}

export const TOPIC_SCHEMAS = {
  type: 'object',
  description: 'Event type → the schema subject its `data` must match on HTTP publish (the latest version, or `version`); `{}` removes them, absent keeps them.',
  propertyNames: { minLength: 1, maxLength: 512 },
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    required: ['subject'],
    properties: { subject: { type: 'string', pattern: NAME_PATTERN }, version: { type: 'integer', minimum: 1 } },
    'x-error': { problem: 'must be {"subject":"…","version"?:N}' }
  }
} as const
