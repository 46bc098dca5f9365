// Merged into tests/assert.ts, the one test-support module: import that. This re-export only
// keeps test files written on other branches compiling until they are merged.
export * from "../../tests/assert.ts";
