import { levelSubscriptionStore } from '../../src/storage/level/subscription-store.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { runSubscriptionStoreContract } from './subscription-store.contract.js'

for (const engine of EMBEDDED_ENGINES) {
  runSubscriptionStoreContract(engine.name, {
    durable: engine.durable,
    open: async () => {
      const handle = await engine.open()
      return {
        store: levelSubscriptionStore(handle.store),
        reopen: engine.durable ? async () => levelSubscriptionStore(await handle.reopen()) : undefined,
        cleanup: handle.cleanup
      }
    }
  })
}
