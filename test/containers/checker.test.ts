/**
 * The history checker's own tests (pure, no engine needed), run with the container scenarios
 * that depend on it; the root config's unit project does not list test/checker.
 */
import '../checker/checker.test.js';
