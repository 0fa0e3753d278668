// aedes-persistence-level ships no types; this is the one call gridgate makes.
declare module 'aedes-persistence-level' {
  import type { AbstractLevel, AbstractSublevel } from 'abstract-level'
  function aedesPersistenceLevel (db: AbstractLevel<any, any, any> | AbstractSublevel<any, any, any, any>): unknown
  export default aedesPersistenceLevel
}
