import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { rememberMatches, TopicMatchCache, type TopicMatcher } from '../../src/core/match-cache.js'

// The match cache in front of aedes' subscription tries: a remembered answer is always the
// answer the trie would give now. Run against qlobber itself, the trie mqemitter uses.

const { Qlobber } = createRequire(import.meta.url)('qlobber') as { Qlobber: new (opts: object) => TopicMatcher }
const trie = (): TopicMatcher =>
  new Qlobber({ match_empty_levels: true, separator: '/', wildcard_one: '+', wildcard_some: '#' })

const matches = (m: TopicMatcher, topic: string): unknown[] => [...(m.match(topic) as unknown[])].sort()

describe('TopicMatchCache', () => {
  it('matches a topic once until it forgets, then again', () => {
    const cache = new TopicMatchCache<string>()
    let calls = 0
    const match = (t: string): string => { calls++; return t.toUpperCase() }
    expect([cache.get('a/b', match), cache.get('a/b', match), cache.get('a/c', match)]).toEqual(['A/B', 'A/B', 'A/C'])
    expect(calls).toBe(2)
    cache.forget()
    expect(cache.get('a/b', match)).toBe('A/B')
    expect(calls).toBe(3)
  })

  it('starts over once it holds its maximum of topics, so it never holds more', () => {
    const cache = new TopicMatchCache<number>(3)
    for (let i = 0; i < 10; i++) cache.get(`t/${i}`, () => i)
    expect(cache.size).toBeLessThanOrEqual(3)
    expect(cache.get('t/9', () => -1)).toBe(9)
  })
})

describe('rememberMatches on a qlobber trie', () => {
  // Each step changes the trie or not; after each, every topic must match what a fresh trie
  // with the same filters matches.
  const steps: Array<[string, (m: TopicMatcher, fresh: TopicMatcher) => void]> = [
    ['nothing subscribed', () => {}],
    ['a wildcard filter added', (m, f) => { m.add('devices/+/telemetry', 'w'); f.add('devices/+/telemetry', 'w') }],
    ['an exact filter added', (m, f) => { m.add('devices/d1/telemetry', 'x'); f.add('devices/d1/telemetry', 'x') }],
    ['a multi-level filter added', (m, f) => { m.add('devices/#', 'all'); f.add('devices/#', 'all') }],
    ['the wildcard filter removed', (m, f) => { m.remove('devices/+/telemetry', 'w'); f.remove('devices/+/telemetry', 'w') }],
    ['every value of a filter removed', (m, f) => { m.remove('devices/#'); f.remove('devices/#') }],
    ['the trie cleared', (m, f) => { m.clear?.(); f.clear?.() }]
  ]
  const topics = ['devices/d1/telemetry', 'devices/d2/telemetry', 'devices/d1/state', 'other/x']

  it('answers after each change as the trie does', () => {
    const m = trie()
    const cache = rememberMatches(m)
    const fresh = trie()
    for (const [name, step] of steps) {
      step(m, fresh)
      for (const t of topics) {
        // Asked twice: the second answer comes from the cache.
        expect([name, t, matches(m, t), matches(m, t)]).toEqual([name, t, matches(fresh, t), matches(fresh, t)])
      }
    }
    expect(cache.size).toBe(topics.length)
  })

  it('hands a call with a context to the trie uncached', () => {
    const m = trie()
    m.add('a/b', 1)
    const cache = rememberMatches(m)
    expect(m.match('a/b', undefined)).toEqual([1])
    expect(cache.size).toBe(0)
  })
})
