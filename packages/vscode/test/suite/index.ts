/**
 * The extension's own test suite, run inside a real VS Code extension host (code-server, see
 * e2e/run-e2e.sh): `run()` is what the host calls for `extensionTestsPath`. Mocha is loaded
 * from node_modules at run time; the tests are bundled into this file.
 */
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec' });
  mocha.suite.emit('pre-require', globalThis, 'suite', mocha);
  return new Promise((resolve, reject) => {
    // The test modules register their describe/it blocks against the globals set just above.
    import('./extension.test.js')
      .then(() => {
        const runner = mocha.run((failures) => {
          console.log(`exthost: ${runner.stats?.passes ?? 0} passed, ${failures} failed`);
          if (failures > 0) reject(new Error(`${failures} extension-host test(s) failed`));
          else resolve();
        });
      })
      .catch(reject);
  });
}
