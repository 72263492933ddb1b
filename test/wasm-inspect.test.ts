// The module inspector and the host ABI v1 check, on modules compiled from WAT with jco.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileWat, loadModuleFile } from '../cli/wat.js';
import { checkAbi, inspectWasm, WfError } from '../protocol/index.js';
import { EXAMPLES } from './helpers/server.js';

const abiCode = async (wat: string) => {
  try {
    checkAbi(inspectWasm(await compileWat(wat)));
    return 'ok';
  } catch (e) {
    return (e as WfError).code;
  }
};

describe('inspectWasm + checkAbi', () => {
  it('derives capabilities, entry exports and memory from the example modules', async () => {
    const cases: Record<string, string[]> = {
      blink: ['gpio', 'log'],
      'sensor-reporter': ['sensor', 'telemetry'],
      counter: ['kv', 'telemetry'],
      'counter-flaky': ['kv', 'sensor', 'telemetry'],
      'trap-init': [],
    };
    for (const [name, caps] of Object.entries(cases)) {
      const info = inspectWasm(await loadModuleFile(join(EXAMPLES, `${name}.wat`)));
      const abi = checkAbi(info);
      expect(abi.capabilities, name).toEqual(caps);
      expect(abi.maxPages, name).toBe(1);
    }
    const counter = inspectWasm(await loadModuleFile(join(EXAMPLES, 'counter.wat')));
    expect(counter.imports.find((i) => i.name === 'kv_get')?.type).toEqual({ params: ['i32', 'i32', 'i32', 'i32'], results: ['i32'] });
    expect(checkAbi(counter).entryExports).toEqual(['wf_health', 'wf_init', 'wf_tick']);
  });

  it('refuses imports outside the ABI, wrong types, missing exports and missing memory', async () => {
    expect(await abiCode('(module (import "env" "abort" (func)) (func (export "wf_init") (result i32) i32.const 0) (func (export "wf_tick") (result i32) i32.const 0))')).toBe(
      'ABI_UNKNOWN_IMPORT',
    );
    expect(await abiCode('(module (import "wf" "gpio_read" (func (param i64) (result i32))) (func (export "wf_init") (result i32) i32.const 0) (func (export "wf_tick") (result i32) i32.const 0))')).toBe(
      'ABI_BAD_SIGNATURE',
    );
    expect(await abiCode('(module (func (export "wf_init") (result i32) i32.const 0))')).toBe('ABI_MISSING_EXPORT');
    expect(await abiCode('(module (func (export "wf_init") (result i32) i32.const 0) (func (export "wf_tick")))')).toBe('ABI_BAD_SIGNATURE');
    expect(await abiCode('(module (import "wf" "log" (func (param i32 i32))) (func (export "wf_init") (result i32) i32.const 0) (func (export "wf_tick") (result i32) i32.const 0))')).toBe(
      'ABI_MISSING_EXPORT',
    );
    expect(await abiCode('(module (import "wf" "gpio_write" (func (param i32 i32) (result i32))) (func (export "wf_init") (result i32) i32.const 0) (func (export "wf_tick") (result i32) i32.const 0))')).toBe(
      'ok',
    );
  });

  it('refuses bytes that are not a core module, with MODULE_INVALID', () => {
    const code = (b: Uint8Array) => {
      try {
        inspectWasm(b);
        return 'ok';
      } catch (e) {
        return (e as WfError).code;
      }
    };
    expect(code(new TextEncoder().encode('#!/bin/sh\necho hi'))).toBe('MODULE_INVALID');
    expect(code(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]))).toBe('MODULE_INVALID'); // a component
    expect(code(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 0xff]))).toBe('MODULE_INVALID'); // truncated section
  });

  it('reports a WAT syntax error as MODULE_INVALID', async () => {
    await expect(compileWat('(module (func (export "x") (result i32) i32.const)')).rejects.toMatchObject({ code: 'MODULE_INVALID' });
  });
});
