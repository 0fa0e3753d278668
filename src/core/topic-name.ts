import { GridgateError } from './errors.js'
import { NAME, NAME_RULE } from './names.js'

// Namespace topic names follow the one name rule (names.ts).

export function assertTopicName (name: string): string {
  if (!NAME.test(name)) {
    throw new GridgateError('TOPIC_NAME_INVALID',
      `topic name '${name.slice(0, 60)}' is invalid: use ${NAME_RULE}`,
      { details: { topic: name } })
  }
  return name
}
