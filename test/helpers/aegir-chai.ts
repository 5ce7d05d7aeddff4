/**
 * What js-stores' shared suites import as `aegir/chai`: chai with
 * chai-as-promised (`.eventually`) and property assertions that may also be
 * called (`.to.be.ok()`, `.to.be.false()`), so those suites run under vitest
 * without installing aegir, a whole build tool. (chai-parentheses, which
 * aegir used for the calls, cannot patch chai 6's frozen utils.)
 */
import * as chai from 'chai'
import chaiAsPromised from 'chai-as-promised'

chai.use(chaiAsPromised)
chai.use((c) => {
  for (const name of ['ok', 'true', 'false', 'null', 'undefined', 'exist', 'empty', 'NaN']) {
    c.Assertion.overwriteProperty(name, (original: (this: Chai.AssertionStatic) => void) => function (this: Chai.AssertionStatic) {
      // the assertion runs on access, as chai does; calling the result just returns it
      original.call(this)
      const assertion = this
      return () => assertion
    })
  }
})

export const expect = chai.expect
export const assert = chai.assert
export { chai }
