import { describe, it, expect } from 'vitest'
import { filterCovers, isValidFilter, topicMatches } from '../../src/core/topic-match.js'

describe('isValidFilter', () => {
  it.each([
    { name: 'a single literal level', filter: 'sport' },
    { name: 'several literal levels', filter: 'sport/tennis/player1' },
    { name: "'#' alone", filter: '#' },
    { name: "'+' alone", filter: '+' },
    { name: "'#' as the last level (§4.7.1.2)", filter: 'sport/tennis/player1/#' },
    { name: "'sport/#' (§4.7.1.2)", filter: 'sport/#' },
    { name: "'+' in the middle (§4.7.1.3)", filter: 'sport/+/player1' },
    { name: "'+' as the last level (§4.7.1.3)", filter: 'sport/tennis/+' },
    { name: "'+/+' (§4.7.1.3)", filter: '+/+' },
    { name: "'/+' (§4.7.1.3)", filter: '/+' },
    { name: "'+' and '#' together (§4.7.1.3)", filter: '+/tennis/#' },
    { name: 'a lone separator', filter: '/' },
    { name: 'empty levels', filter: 'a//b' },
    { name: 'a trailing separator', filter: 'sport/' },
    { name: 'a $-prefixed literal', filter: '$SYS/#' }
  ])('accepts $name', ({ filter }) => {
    expect(isValidFilter(filter)).toBe(true)
  })

  it.each([
    { name: 'an empty filter', filter: '' },
    { name: "'sport+' ('+' not alone in its level, §4.7.1.3)", filter: 'sport+' },
    { name: "'sport/tennis#' ('#' not alone in its level, §4.7.1.2)", filter: 'sport/tennis#' },
    { name: "'sport/tennis/#/ranking' ('#' not last, §4.7.1.2)", filter: 'sport/tennis/#/ranking' },
    { name: "'#' followed by an empty level", filter: '#/' },
    { name: "'#' first of two levels", filter: '#/a' },
    { name: "'+' after a literal in one level", filter: 'a/b+/c' },
    { name: "'+' before a literal in one level", filter: 'a/+b' },
    { name: "'++'", filter: '++' },
    { name: "'##'", filter: '##' },
    { name: "'+#'", filter: 'a/+#' },
    { name: 'a filter longer than 65535 characters', filter: 'a'.repeat(65536) }
  ])('refuses $name', ({ filter }) => {
    expect(isValidFilter(filter)).toBe(false)
  })
})

describe('topicMatches', () => {
  it.each([
    // MQTT 3.1.1 §4.7.1.2
    { filter: 'sport/tennis/player1/#', topic: 'sport/tennis/player1' },
    { filter: 'sport/tennis/player1/#', topic: 'sport/tennis/player1/ranking' },
    { filter: 'sport/tennis/player1/#', topic: 'sport/tennis/player1/score/wimbledon' },
    { filter: 'sport/#', topic: 'sport' },
    // MQTT 3.1.1 §4.7.1.3
    { filter: 'sport/tennis/+', topic: 'sport/tennis/player1' },
    { filter: 'sport/tennis/+', topic: 'sport/tennis/player2' },
    { filter: 'sport/+', topic: 'sport/' },
    { filter: '+/+', topic: '/finance' },
    { filter: '/+', topic: '/finance' },
    // general
    { filter: '#', topic: 'a' },
    { filter: '#', topic: 'a/b/c' },
    { filter: '#', topic: '/' },
    { filter: 'a/#', topic: 'a' },
    { filter: 'a/#', topic: 'a/b/c' },
    { filter: 'a/#', topic: 'a/' },
    { filter: '+', topic: 'a' },
    { filter: '+', topic: '' },
    { filter: 'a/b', topic: 'a/b' },
    { filter: 'a/+/b', topic: 'a//b' },
    { filter: 'a//b', topic: 'a//b' },
    { filter: '+/+/+', topic: '//' },
    { filter: 'a/+/#', topic: 'a/b' },
    { filter: 'a/+/#', topic: 'a/b/c/d' },
    // '$' topics are matched by filters that do not start with a wildcard (§4.7.2)
    { filter: '$SYS/#', topic: '$SYS/broker/load' },
    { filter: '$SYS/+/load', topic: '$SYS/broker/load' },
    { filter: '$SYS', topic: '$SYS' },
    { filter: 'a/+', topic: 'a/$x' },
    { filter: 'a/#', topic: 'a/$x/y' }
  ])("'$filter' matches '$topic'", ({ filter, topic }) => {
    expect(topicMatches(filter, topic)).toBe(true)
  })

  it.each([
    // MQTT 3.1.1 §4.7.1.3
    { filter: 'sport/tennis/+', topic: 'sport/tennis/player1/ranking' },
    { filter: 'sport/+', topic: 'sport' },
    { filter: '+', topic: '/finance' },
    // general
    { filter: 'a/b', topic: 'a' },
    { filter: 'a', topic: 'a/b' },
    { filter: 'a/b', topic: 'a/c' },
    { filter: 'a/b', topic: 'A/b' },
    { filter: 'a/b', topic: 'a/b/' },
    { filter: 'a/+', topic: 'a/b/c' },
    { filter: 'a/+/b', topic: 'a/b' },
    { filter: 'a/#', topic: 'ab' },
    { filter: 'a/#', topic: 'b/a' },
    { filter: 'a//b', topic: 'a/b' },
    { filter: 'a/+/#', topic: 'a' },
    // filters starting with a wildcard never match topics starting with '$' [MQTT-4.7.2-1]
    { filter: '#', topic: '$SYS' },
    { filter: '#', topic: '$SYS/broker/load' },
    { filter: '+', topic: '$SYS' },
    { filter: '+/broker/load', topic: '$SYS/broker/load' },
    { filter: '+/#', topic: '$SYS/broker' },
    { filter: '+/+', topic: '$/x' }
  ])("'$filter' does not match '$topic'", ({ filter, topic }) => {
    expect(topicMatches(filter, topic)).toBe(false)
  })
})

describe('filterCovers', () => {
  it.each([
    { outer: 'a/#', inner: 'a/+/c' },
    { outer: 'a/#', inner: 'a/b' },
    { outer: 'a/#', inner: 'a/#' },
    { outer: 'a/#', inner: 'a' },
    { outer: 'a/#', inner: 'a/b/c/d' },
    { outer: 'a/#', inner: 'a/+/#' },
    { outer: 'a/+', inner: 'a/b' },
    { outer: 'a/+', inner: 'a/+' },
    { outer: 'a/+', inner: 'a/' },
    { outer: 'a/+/c', inner: 'a/b/c' },
    { outer: 'a/+/c', inner: 'a/+/c' },
    { outer: 'a/+/#', inner: 'a/b/#' },
    { outer: 'a/+/#', inner: 'a/+/+' },
    { outer: 'a/b', inner: 'a/b' },
    { outer: '#', inner: '#' },
    { outer: '#', inner: 'a/b' },
    { outer: '#', inner: '+/x' },
    { outer: '+', inner: 'a' },
    { outer: '+', inner: '+' },
    { outer: '+/x', inner: 'SYS/x' },
    { outer: '$SYS/#', inner: '$SYS/+' },
    { outer: '$SYS/#', inner: '$SYS/broker/load' },
    { outer: '$SYS/+', inner: '$SYS/broker' },
    { outer: 'a//+', inner: 'a//b' }
  ])("'$outer' covers '$inner'", ({ outer, inner }) => {
    expect(filterCovers(outer, inner)).toBe(true)
  })

  it.each([
    // wildcards in inner reach further than outer
    { outer: 'a/+', inner: 'a/#' },
    { outer: 'a/+', inner: 'a/b/c' },
    { outer: 'a/+', inner: 'a' },
    { outer: 'a/+/c', inner: 'a/+/#' },
    { outer: '+', inner: '#' },
    { outer: 'a/b/#', inner: 'a/#' },
    { outer: 'a/b/#', inner: 'a/+/c' },
    { outer: 'a/b/#', inner: 'a' },
    // a literal never covers a wildcard
    { outer: 'a/b', inner: 'a/+' },
    { outer: 'a/b', inner: 'a/#' },
    { outer: 'a', inner: '+' },
    { outer: 'a', inner: '#' },
    // different literals or shapes
    { outer: 'a/b', inner: 'a/c' },
    { outer: 'a/b', inner: 'a/b/c' },
    { outer: 'a/b/c', inner: 'a/b' },
    { outer: 'a/b', inner: 'a' },
    { outer: 'a/#', inner: 'b/#' },
    { outer: 'a/#', inner: '#' },
    { outer: 'a/#', inner: '+/b' },
    // a filter starting with a wildcard never reaches '$' topics [MQTT-4.7.2-1]
    { outer: '+/x', inner: '$SYS/x' },
    { outer: '#', inner: '$SYS/#' },
    { outer: '#', inner: '$SYS' },
    { outer: '+', inner: '$SYS' },
    { outer: '+/#', inner: '$SYS/+' }
  ])("'$outer' does not cover '$inner'", ({ outer, inner }) => {
    expect(filterCovers(outer, inner)).toBe(false)
  })

  it.each([
    { outer: 'a/#', inner: 'a/+/c', topics: ['a/b/c', 'a//c', 'a/x/c'] },
    { outer: 'a/+', inner: 'a/+', topics: ['a/b', 'a/'] },
    { outer: '#', inner: '+/x', topics: ['a/x', '/x'] },
    { outer: 'a/+/#', inner: 'a/b/#', topics: ['a/b', 'a/b/c', 'a/b/c/d'] }
  ])("agrees with topicMatches: every topic '$inner' matches is matched by '$outer'", ({ outer, inner, topics }) => {
    expect(filterCovers(outer, inner)).toBe(true)
    for (const topic of topics) {
      expect(topicMatches(inner, topic)).toBe(true)
      expect(topicMatches(outer, topic)).toBe(true)
    }
  })

  it.each([
    { outer: 'a/+', inner: 'a/#', witness: 'a/b/c' },
    { outer: 'a/+', inner: 'a/#', witness: 'a' },
    { outer: '#', inner: '$SYS/#', witness: '$SYS/x' },
    { outer: '+/x', inner: '$SYS/x', witness: '$SYS/x' },
    { outer: 'a/b', inner: 'a/+', witness: 'a/c' }
  ])("agrees with topicMatches: '$outer' does not cover '$inner' because of '$witness'", ({ outer, inner, witness }) => {
    expect(filterCovers(outer, inner)).toBe(false)
    expect(topicMatches(inner, witness)).toBe(true)
    expect(topicMatches(outer, witness)).toBe(false)
  })
})
