import { defineConfig } from 'vitest/config'

// Projects so the fast half can run alone: `unit` is pure logic and single modules,
// `flows` starts whole gateways (in-process or as child processes) on port 0, and runs the
// reliability suite's small variants (test/reliability/) and the web console in a real
// browser (test/console/). `flows-memory` runs the in-process
// flows again on the memory engine (tests that restart a gateway on its data skip there);
// flows that spawn gateway processes run on LevelDB only, cluster and Redis flows on Redis only.
// `alone` runs last, with nothing beside it.
export default defineConfig({
  test: {
    // Two files at a time: most flows wait on child processes, sockets and disks, not on the
    // CPU, and vitest's default on 2 cores is one (availableParallelism − 1).
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/flows/**', 'test/reliability/**', 'test/console/**'],
          // Pure logic and single modules share their two workers' module graphs instead of a
          // fresh process per file: 65 → 31 s on 2 cores. A test that changes global state
          // (fake timers, process.env) puts it back in a finally or afterEach.
          isolate: false,
          testTimeout: 20_000
        }
      },
      {
        test: {
          name: 'flows',
          include: ['test/flows/**/*.test.ts', 'test/reliability/**/*.test.ts', 'test/console/**/*.test.ts'],
          exclude: ['test/reliability/alone.test.ts'],
          // Builds dist/ once: child processes run the compiled gateway and simulator.
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000
        }
      },
      {
        test: {
          name: 'alone',
          // Reliability cases that compare rates measured one after the other (ingest before and
          // during an attack): beside another file on 2 cores one phase can lose the CPU the other
          // had. Group 1 starts once every file of group 0 has finished, and runs one file.
          include: ['test/reliability/alone.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          sequence: { groupOrder: 1 },
          maxWorkers: 1,
          testTimeout: 120_000,
          hookTimeout: 60_000
        }
      },
      {
        test: {
          name: 'flows-memory',
          include: ['test/flows/**/*.test.ts'],
          // Cluster and Redis flows run their nodes on the redis engine whatever the project.
          // And flows that do not depend on the engine: the simulator, the CLI, the README
          // walkthrough, start-up errors, MQTT permissions, transports, client ids and groups,
          // shared subscriptions, $SYS, HTTP limits.
          exclude: [
            'test/flows/**/*-crash.test.ts', 'test/flows/process.test.ts', 'test/flows/cluster*.test.ts', 'test/flows/redis-*.test.ts', 'test/flows/twins-redis.test.ts',
            'test/flows/devices-sim*.test.ts', 'test/flows/admin-cli.test.ts', 'test/flows/readme-walkthrough.test.ts', 'test/flows/startup-errors.test.ts',
            'test/flows/mqtt-permissions.test.ts', 'test/flows/mqtt-transports.test.ts', 'test/flows/mqtt-client-id.test.ts', 'test/flows/mqtt-client-groups.test.ts',
            'test/flows/mqtt-sys.test.ts', 'test/flows/http-limits.test.ts', 'test/flows/mqtt-shared-subscriptions.test.ts',
            // HTTP validation and the topics API: the memory engine's log is the leveldb adapter over memory-level, which the contract suites cover.
            'test/flows/http-publish.test.ts'
          ],
          env: { GRIDGATE_TEST_ENGINE: 'memory' },
          testTimeout: 60_000,
          hookTimeout: 60_000
        }
      }
    ]
  }
})
