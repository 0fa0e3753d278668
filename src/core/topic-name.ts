import { GridgateError } from './errors.js'

// Namespace topic names: Event Grid allows 3-50 alphanumerics and hyphens; gridgate is a
// little looser (1-50, also '_' and '.') for its own system topics, and never allows
// the '!' that separates storage keys.
const TOPIC_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$/

export function assertTopicName (name: string): string {
  if (!TOPIC_NAME.test(name)) {
    throw new GridgateError('TOPIC_NAME_INVALID',
      `topic name '${name.slice(0, 60)}' is invalid: use 1-50 letters, digits, '-', '_' or '.', starting with a letter or digit`,
      { details: { topic: name } })
  }
  return name
}
