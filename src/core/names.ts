// The two name rules of gridgate, each written once. Both are given as a pattern string, for
// the config JSON Schema (ajv compiles `pattern` with the `u` flag: same meaning here), and
// as a RegExp for code. Pure.
//
// Why the characters are what they are:
// - Names and ids are parts of storage keys, which join their parts with '!' (e.g.
//   `s!{topic}!o!{window}!{device}!{metric}`, `r!{device}!{metric}!{time}`) and close prefix
//   ranges with '~' (storage RANGE_END). A name holding '!' could reach into another name's
//   key range ('a!o' inside 'a'), and '~' would end a range early: neither is allowed.
// - They are URL path segments (/topics/{name}, /devices/{id}) and MQTT topic levels
//   (devices/{id}/…, and topic names appear in CloudEvent sources): no '/', no MQTT
//   wildcards '+' and '#', no '$', no spaces.
// - The first character is a letter or digit, so no name is '.', '..' or starts like an
//   option ('-').
// - ASCII only: the same bytes in every encoding, and no look-alike names.

/**
 * Namespace topic, subscription and window names: 1-50 letters, digits, '_', '.' or '-',
 * starting with a letter or digit. Event Grid allows 3-50 alphanumerics and hyphens for
 * namespace topics; gridgate is a little looser (1-50, also '_' and '.') for its own
 * system topics.
 */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$'
export const NAME = new RegExp(NAME_PATTERN)
/** How NAME is worded in error messages. */
export const NAME_RULE = "1-50 letters, digits, '-', '_' or '.', starting with a letter or digit"

/**
 * Device ids: 1-128 letters, digits, '_', '.', ':' or '-', starting with a letter or digit
 * (':' for ids such as MAC addresses and URNs). The registry refuses any other id, so a
 * CloudEvent `deviceid`, a certificate CN or an MQTT level that fails it is no device's.
 */
export const DEVICE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'
export const DEVICE_ID = new RegExp(DEVICE_ID_PATTERN)
