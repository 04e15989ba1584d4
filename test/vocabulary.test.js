'use strict';
// One vocabulary per concept: where a list of names crosses from C to TypeScript, the native
// side exports its one source (an X-macro file) and the TypeScript copy must equal it. (The
// error codes have their own such test in options.test.js.)
const assert = require('node:assert/strict');
const { binding } = require('../dist/native.js');
const { CAPABILITIES } = require('../dist/types.js');
const { EDIT_KINDS, SOURCE_KINDS, MOUNT_FLAGS } = require('../dist/plan/mount-plan.js');
const { ITEM_ROLES } = require('../dist/plan/items.js');

describe('vocabularies shared by C and TypeScript', () => {
  const native = binding().vocabulary();
  it("edit kinds, source kinds and mount flags (nvc_vocabulary.def) equal the planner's", () => {
    assert.deepEqual(native.editKinds, [...EDIT_KINDS]);
    assert.deepEqual(native.sourceKinds, [...SOURCE_KINDS]);
    assert.deepEqual(native.mountFlags, [...MOUNT_FLAGS]);
  });
  it('capabilities, whose order is the bit order of DriverFile caps, equal CAPABILITIES', () => {
    assert.deepEqual(native.capabilities, [...CAPABILITIES]);
  });
  it('item roles are defined once, with no duplicate', () => {
    assert.equal(new Set(ITEM_ROLES).size, ITEM_ROLES.length);
  });
});
