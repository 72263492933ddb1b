{
  "targets": [
    {
      "target_name": "wasm3",
      "sources": [
        "src/addon.cc",
        "src/wf_hooks.c",
        "deps/wasm3/m3_bind.c",
        "deps/wasm3/m3_code.c",
        "deps/wasm3/m3_compile.c",
        "deps/wasm3/m3_core.c",
        "deps/wasm3/m3_emit.c",
        "deps/wasm3/m3_env.c",
        "deps/wasm3/m3_exec.c",
        "deps/wasm3/m3_function.c",
        "deps/wasm3/m3_info.c",
        "deps/wasm3/m3_module.c",
        "deps/wasm3/m3_parse.c"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "src", "deps/wasm3"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "d_m3HasWASI=0"],
      "cflags": ["-O3", "-fno-strict-aliasing", "-fno-stack-protector", "-Wno-unused-function", "-Wno-unused-variable", "-Wno-unused-but-set-variable", "-Wno-sign-compare", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-Wno-implicit-fallthrough", "-Wno-cast-function-type"],
      "cflags_cc": ["-std=c++17"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
