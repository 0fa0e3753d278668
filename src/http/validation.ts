import type { FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify'
import { compileSchema, type JsonSchema, type SchemaPart } from '../core/validation.js'

// Fastify's validation runs gridgate's compiled schemas (core/validation.ts): bodies as JSON
// types, query strings, path parameters and headers read from strings, and every failure
// answered with the resource's error code and a message naming the field.

/** For every route: the check's GridgateError is the answer (http/reply.ts sends it). */
export const validatorCompiler: FastifySchemaCompiler<JsonSchema> = ({ schema, httpPart }) => {
  const check = compileSchema(schema, (httpPart ?? 'body') as SchemaPart)
  return (data: unknown) => {
    const error = check(data)
    return error === undefined ? true : { error }
  }
}

/** For a route whose raw body another layer reads (the CloudEvents binding): its body schema only describes. */
export const describedBodyCompiler: FastifySchemaCompiler<JsonSchema> = (route) => {
  return route.httpPart === 'body' ? () => true : validatorCompiler(route)
}

/**
 * Response schemas describe the answers in the OpenAPI document; the answers are written as
 * they are (JSON.stringify), never filtered or coerced by a serializer built from them.
 */
export const serializerCompiler: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data)
