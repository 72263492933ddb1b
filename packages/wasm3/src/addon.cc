// Node-API binding of the wasm3 interpreter: one Instance = one wasm3 environment + runtime +
// module. Everything runs synchronously on the calling thread; a call is bounded by fuel
// (wf_hooks.h), never by a timer. Errors are thrown as JS Errors with a stable `code`
// (index.js turns wasm3's trap texts into the wording Node's WebAssembly uses).
#define NAPI_VERSION 8
#include <napi.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include "wasm3.h"
#include "m3_env.h"
#include "wf_hooks.h"
}

namespace {

const uint32_t kPage = 65536;
const uint32_t kMaxPages = 32768;  // wasm3's d_m3MaxLinearMemoryPages: 2 GiB
const char kTrapHost[] = "[trap] host function threw";

// Values on wasm3's stack are 64-bit slots read and written as their Wasm type (no aliasing UB).
template <typename T>
T Load(const void* slot) {
  T v;
  std::memcpy(&v, slot, sizeof v);
  return v;
}
template <typename T>
void Store(void* slot, T v) {
  std::memcpy(slot, &v, sizeof v);
}

Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

// Unsigned LEB128 at *pos (at most 5 bytes); false past `end` or on an overlong encoding.
bool ReadU32(const uint8_t* data, size_t end, size_t* pos, uint32_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (*pos >= end) return false;
    uint8_t b = data[(*pos)++];
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (v > 0xFFFFFFFFu) return false;
      *out = static_cast<uint32_t>(v);
      return true;
    }
  }
  return false;
}

// The declared initial size of the module's first table, or -1 when it has none. wasm3 sizes its
// table by the element segments alone; V8 (and the spec) by this declaration.
int64_t DeclaredTableSize(const std::vector<uint8_t>& wasm) {
  size_t pos = 8, n = wasm.size();
  while (pos < n) {
    uint8_t id = wasm[pos++];
    uint32_t len = 0;
    if (!ReadU32(wasm.data(), n, &pos, &len) || len > n - pos) return -1;
    size_t end = pos + len;
    if (id == 4) {
      uint32_t count = 0, min = 0;
      if (!ReadU32(wasm.data(), end, &pos, &count) || count == 0 || pos + 2 > end) return -1;
      pos += 2;  // reftype, limits flags
      return ReadU32(wasm.data(), end, &pos, &min) ? min : -1;
    }
    pos = end;
  }
  return -1;
}

class Instance;

struct Import {
  Instance* self;
  Napi::FunctionReference fn;
};

class Instance : public Napi::ObjectWrap<Instance> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Instance",
                       {
                           InstanceMethod("link", &Instance::Link),
                           InstanceMethod("start", &Instance::Start),
                           InstanceMethod("call", &Instance::Call),
                           InstanceMethod("readMemory", &Instance::ReadMemory),
                           InstanceMethod("writeMemory", &Instance::WriteMemory),
                           InstanceMethod("dispose", &Instance::Dispose),
                           InstanceAccessor("memoryBytes", &Instance::MemoryBytes, nullptr),
                           InstanceAccessor("fuelUsed", &Instance::FuelUsed, nullptr),
                       });
  }

  // new Instance(bytes: Uint8Array, maxPages: number, stackBytes: number)
  explicit Instance(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Instance>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber()) {
      MakeError(env, "WASM3_USAGE", "new Instance(bytes: Uint8Array, maxPages: number, stackBytes: number)").ThrowAsJavaScriptException();
      return;
    }
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    double maxPages = info[1].As<Napi::Number>().DoubleValue();
    double stackBytes = info[2].As<Napi::Number>().DoubleValue();
    if (!(maxPages >= 0 && maxPages <= kMaxPages) || !(stackBytes >= 1024 && stackBytes <= 16 * 1024 * 1024)) {
      MakeError(env, "WASM3_USAGE", "maxPages must be 0..32768 and stackBytes 1 KiB..16 MiB").ThrowAsJavaScriptException();
      return;
    }
    if (bytes.ByteLength() > 0xFFFFFFFFu) {
      MakeError(env, "WASM3_INVALID", "module larger than 4 GiB").ThrowAsJavaScriptException();
      return;
    }
    // wasm3 reads the module's bytes for as long as the module lives: keep our own copy.
    wasm_.assign(bytes.Data(), bytes.Data() + bytes.ByteLength());
    maxPages_ = static_cast<uint32_t>(maxPages);
    environment_ = m3_NewEnvironment();
    runtime_ = environment_ ? m3_NewRuntime(environment_, static_cast<uint32_t>(stackBytes), this) : nullptr;
    if (!runtime_) {
      Release();
      MakeError(env, "WASM3_NO_MEMORY", "wasm3: cannot allocate a runtime").ThrowAsJavaScriptException();
      return;
    }
    runtime_->memoryLimit = maxPages_ * kPage;  // memory.grow past it traps (wf_hooks.h)
    IM3Module module = nullptr;
    M3Result r = m3_ParseModule(environment_, &module, wasm_.data(), static_cast<uint32_t>(wasm_.size()));
    if (r) {
      Release();
      MakeError(env, "WASM3_INVALID", r).ThrowAsJavaScriptException();
      return;
    }
    if (module->memoryImported) {
      m3_FreeModule(module);
      Release();
      MakeError(env, "WASM3_LINK", "memory imports are not supported").ThrowAsJavaScriptException();
      return;
    }
    if (module->memoryInfo.initPages > maxPages_) {
      std::string msg = std::to_string(module->memoryInfo.initPages) + " pages > limit " + std::to_string(maxPages_);
      m3_FreeModule(module);
      Release();
      MakeError(env, "WASM3_MEMORY_LIMIT", msg).ThrowAsJavaScriptException();
      return;
    }
    // Data and element segments are written here (an out-of-range segment fails the load). Their
    // offsets and the globals' initial values are constant expressions that wasm3 runs in its
    // interpreter, which spends fuel: give them enough (wasm3 would ignore a trap there).
    int64_t tableSize = DeclaredTableSize(wasm_);
    if (tableSize > 0 && tableSize <= 100000) {
      module->table0 = m3_AllocArray(IM3Function, tableSize);
      module->table0Size = module->table0 ? static_cast<u32>(tableSize) : 0;
    }
    int64_t saved = wf_m3_fuel;
    wf_m3_fuel = INT64_MAX;
    r = m3_LoadModule(runtime_, module);
    wf_m3_fuel = saved;
    if (!r && tableSize >= 0 && module->table0Size > tableSize) {
      module_ = module;
      Release();  // the module belongs to the runtime now
      MakeError(env, "WASM3_TRAP", "table initializer is out of bounds").ThrowAsJavaScriptException();
      return;
    }
    if (r) {
      m3_FreeModule(module);
      Release();
      MakeError(env, "WASM3_INVALID", r).ThrowAsJavaScriptException();
      return;
    }
    module_ = module;
  }

  ~Instance() override { Release(); }

 private:
  std::vector<uint8_t> wasm_;
  IM3Environment environment_ = nullptr;
  IM3Runtime runtime_ = nullptr;
  IM3Module module_ = nullptr;  // owned by runtime_
  uint32_t maxPages_ = 0;
  bool started_ = false;
  bool running_ = false;
  bool disposeAfterCall_ = false;
  int64_t fuelUsed_ = 0;
  std::vector<std::unique_ptr<Import>> imports_;
  Napi::Reference<Napi::Value> hostError_;

  void Release() {
    if (runtime_) m3_FreeRuntime(runtime_);  // frees the loaded module too
    if (environment_) m3_FreeEnvironment(environment_);
    runtime_ = nullptr;
    environment_ = nullptr;
    module_ = nullptr;
    imports_.clear();
  }

  bool Usable(Napi::Env env) {
    if (!runtime_ || disposeAfterCall_) {
      MakeError(env, "WASM3_DISPOSED", "instance disposed").ThrowAsJavaScriptException();
      return false;
    }
    if (running_) {
      MakeError(env, "WASM3_BUSY", "a call on this instance is running (re-entry from a host function)").ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  // The trampoline wasm3 calls for every linked import: arguments from the value stack to JS,
  // the JS result back. A JS exception becomes a trap, and is rethrown by call().
  static const void* Trampoline(IM3Runtime, IM3ImportContext ctx, uint64_t* sp, void*) {
    Import* imp = static_cast<Import*>(ctx->userdata);
    Instance* self = imp->self;
    Napi::Env env = self->Env();
    IM3Function fn = ctx->function;
    uint32_t nargs = m3_GetArgCount(fn), nrets = m3_GetRetCount(fn);
    Napi::HandleScope scope(env);
    std::vector<napi_value> args(nargs);
    for (uint32_t i = 0; i < nargs; i++) {
      uint64_t* slot = sp + nrets + i;
      switch (m3_GetArgType(fn, i)) {
        case c_m3Type_i32: args[i] = Napi::Number::New(env, Load<int32_t>(slot)); break;
        case c_m3Type_i64: args[i] = Napi::BigInt::New(env, Load<int64_t>(slot)); break;
        case c_m3Type_f32: args[i] = Napi::Number::New(env, Load<float>(slot)); break;
        default: args[i] = Napi::Number::New(env, Load<double>(slot)); break;
      }
    }
    Napi::Value out = imp->fn.Call(args);
    if (env.IsExceptionPending()) {
      self->hostError_ = Napi::Reference<Napi::Value>::New(env.GetAndClearPendingException().Value(), 1);
      return kTrapHost;
    }
    if (nrets == 0) return m3Err_none;
    bool lossless = true;
    switch (m3_GetRetType(fn, 0)) {
      case c_m3Type_i32: {
        int32_t v = 0;
        if (out.IsNumber()) v = out.As<Napi::Number>().Int32Value();
        else if (out.IsBigInt()) v = static_cast<int32_t>(out.As<Napi::BigInt>().Int64Value(&lossless));
        else if (out.IsBoolean()) v = out.As<Napi::Boolean>().Value() ? 1 : 0;
        Store<int32_t>(sp, v);
        break;
      }
      case c_m3Type_i64: {
        int64_t v = 0;
        if (out.IsBigInt()) v = out.As<Napi::BigInt>().Int64Value(&lossless);
        else if (out.IsNumber()) v = out.As<Napi::Number>().Int64Value();
        Store<int64_t>(sp, v);
        break;
      }
      case c_m3Type_f32: Store<float>(sp, out.IsNumber() ? out.As<Napi::Number>().FloatValue() : 0.0f); break;
      default: Store<double>(sp, out.IsNumber() ? out.As<Napi::Number>().DoubleValue() : 0.0); break;
    }
    return m3Err_none;
  }

  // link(module, name, signature, fn) → true when the module imports it with that signature.
  // Signatures are wasm3's: "i(ii)" = (i32, i32) -> i32; i/I/f/F = i32/i64/f32/f64, v = none.
  Napi::Value Link(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() || !info[3].IsFunction()) {
      MakeError(env, "WASM3_USAGE", "link(module: string, name: string, signature: string, fn: Function)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (started_) {
      MakeError(env, "WASM3_USAGE", "link() after start()").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string mod = info[0].As<Napi::String>(), name = info[1].As<Napi::String>(), sig = info[2].As<Napi::String>();
    auto imp = std::make_unique<Import>();
    imp->self = this;
    imp->fn = Napi::Persistent(info[3].As<Napi::Function>());
    M3Result r = m3_LinkRawFunctionEx(module_, mod.c_str(), name.c_str(), sig.c_str(), Trampoline, imp.get());
    if (r == m3Err_none) {
      imports_.push_back(std::move(imp));
      return Napi::Boolean::New(env, true);
    }
    // Not imported by the module, or imported with another type: left unlinked (start() refuses that).
    return Napi::Boolean::New(env, false);
  }

  // Run wasm3 code under `fuel` operations; returns the trap text or null.
  M3Result Metered(double fuel, M3Result (*run)(void*), void* arg) {
    int64_t budget = fuel >= 9.2e18 ? INT64_MAX : (fuel < 1 ? 1 : static_cast<int64_t>(fuel));
    int64_t saved = wf_m3_fuel;  // a nested call (another instance from a host function) keeps the outer budget
    wf_m3_fuel = budget;
    running_ = true;
    M3Result r = run(arg);
    running_ = false;
    int64_t left = wf_m3_fuel < 0 ? 0 : wf_m3_fuel;
    fuelUsed_ = budget - left;
    wf_m3_fuel = saved;
    return r;
  }

  Napi::Value Trap(Napi::Env env, M3Result r) {
    if (r == kTrapHost) {
      Napi::Value err = hostError_.Value();
      hostError_.Reset();
      napi_throw(env, err);
      return env.Undefined();
    }
    const char* code = r == wf_m3_trapFuel ? "WASM3_FUEL" : r == wf_m3_trapMemoryLimit ? "WASM3_MEMORY_LIMIT" : std::strncmp(r, "[trap]", 6) == 0 ? "WASM3_TRAP" : "WASM3_INVALID";
    Napi::Error e = MakeError(env, code, r);
    if (r == wf_m3_trapMemoryLimit) e.Set("requestedPages", Napi::Number::New(env, wf_m3_growRequest));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }

  void FinishCall() {
    if (disposeAfterCall_) {
      Release();
      disposeAfterCall_ = false;
    }
  }

  // start(fuel): every import linked, every function compiled (so an invalid body fails here,
  // as at compile time in V8), then the start function, if any, under `fuel`.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    if (started_) return env.Undefined();
    double fuel = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 1e7;
    for (uint32_t i = 0; i < module_->numFunctions; i++) {
      IM3Function f = &module_->functions[i];
      if ((f->import.moduleUtf8 || f->import.fieldUtf8) && !f->compiled) {
        std::string what = std::string(f->import.moduleUtf8 ? f->import.moduleUtf8 : "?") + "." + (f->import.fieldUtf8 ? f->import.fieldUtf8 : "?");
        MakeError(env, "WASM3_LINK", "import " + what + " is not provided by the host (or has another type)").ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    for (uint32_t i = 0; i < module_->numGlobals; i++) {
      if (module_->globals[i].imported) {
        MakeError(env, "WASM3_LINK", "global imports are not supported").ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
    M3Result r = m3_CompileModule(module_);
    if (r) {
      MakeError(env, "WASM3_INVALID", r).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // Everything is compiled: the compiler's scratch area (~10 KiB per runtime) is not needed again.
    wf_m3_pagesDiscard(&runtime_->compilation, sizeof runtime_->compilation);
    started_ = true;
    r = Metered(fuel, [](void* m) { return m3_RunStart(static_cast<IM3Module>(m)); }, module_);
    if (r) {
      Napi::Value v = Trap(env, r);
      FinishCall();
      return v;
    }
    FinishCall();
    return env.Undefined();
  }

  struct CallArgs {
    IM3Function fn;
    std::vector<const void*> ptrs;
  };

  // call(name, args, fuel) → the first result (number, or bigint for i64), or undefined.
  Napi::Value Call(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    if (info.Length() < 3 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsNumber()) {
      MakeError(env, "WASM3_USAGE", "call(name: string, args: Array<number | bigint>, fuel: number)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!started_) {
      MakeError(env, "WASM3_USAGE", "call() before start()").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::string name = info[0].As<Napi::String>();
    IM3Function fn = nullptr;
    if (m3_FindFunction(&fn, runtime_, name.c_str()) != m3Err_none || !fn) {
      MakeError(env, "WASM3_NO_EXPORT", "no exported function " + name).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Array args = info[1].As<Napi::Array>();
    uint32_t nargs = m3_GetArgCount(fn);
    if (args.Length() != nargs) {
      MakeError(env, "WASM3_USAGE", name + " takes " + std::to_string(nargs) + " arguments").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::vector<uint64_t> values(nargs);
    CallArgs call{fn, std::vector<const void*>(nargs)};
    for (uint32_t i = 0; i < nargs; i++) {
      Napi::Value a = args.Get(i);
      bool lossless = true;
      uint64_t* slot = &values[i];
      switch (m3_GetArgType(fn, i)) {
        case c_m3Type_i32: Store<int32_t>(slot, a.IsBigInt() ? static_cast<int32_t>(a.As<Napi::BigInt>().Int64Value(&lossless)) : a.ToNumber().Int32Value()); break;
        case c_m3Type_i64: Store<int64_t>(slot, a.IsBigInt() ? a.As<Napi::BigInt>().Int64Value(&lossless) : a.ToNumber().Int64Value()); break;
        case c_m3Type_f32: Store<float>(slot, a.ToNumber().FloatValue()); break;
        default: Store<double>(slot, a.ToNumber().DoubleValue()); break;
      }
      if (env.IsExceptionPending()) return env.Undefined();
      call.ptrs[i] = slot;
    }
    double fuel = info[2].As<Napi::Number>().DoubleValue();
    M3Result r = Metered(fuel, [](void* p) {
      CallArgs* c = static_cast<CallArgs*>(p);
      return m3_Call(c->fn, static_cast<uint32_t>(c->ptrs.size()), c->ptrs.data());
    }, &call);
    if (r) {
      Napi::Value v = Trap(env, r);
      FinishCall();
      return v;
    }
    Napi::Value result = env.Undefined();
    if (m3_GetRetCount(fn) > 0) {
      uint64_t raw = 0;
      const void* outs[1] = {&raw};
      if (m3_GetResults(fn, 1, outs) == m3Err_none) {
        switch (m3_GetRetType(fn, 0)) {
          case c_m3Type_i32: result = Napi::Number::New(env, Load<int32_t>(&raw)); break;
          case c_m3Type_i64: result = Napi::BigInt::New(env, Load<int64_t>(&raw)); break;
          case c_m3Type_f32: result = Napi::Number::New(env, Load<float>(&raw)); break;
          default: result = Napi::Number::New(env, Load<double>(&raw)); break;
        }
      }
    }
    FinishCall();
    return result;
  }

  // A checked range of linear memory, or nullptr (and a thrown WASM3_BOUNDS).
  uint8_t* Range(Napi::Env env, const Napi::Value& ptrV, double len) {
    static uint8_t empty;
    if (!runtime_) {
      MakeError(env, "WASM3_DISPOSED", "instance disposed").ThrowAsJavaScriptException();
      return nullptr;
    }
    uint32_t size = 0;
    uint8_t* base = m3_GetMemory(runtime_, &size, 0);
    if (!base) size = 0;
    double ptr = ptrV.IsNumber() ? ptrV.As<Napi::Number>().DoubleValue() : -1;
    bool whole = ptr >= 0 && len >= 0 && ptr <= 4294967296.0 && len <= 4294967296.0 && ptr == static_cast<double>(static_cast<uint64_t>(ptr)) &&
                 len == static_cast<double>(static_cast<uint64_t>(len));
    if (!whole || ptr + len > size) {
      MakeError(env, "WASM3_BOUNDS", "memory range " + std::to_string(ptr) + "+" + std::to_string(len) + " out of bounds (" + std::to_string(size) + " bytes)")
          .ThrowAsJavaScriptException();
      return nullptr;
    }
    return len == 0 || !base ? &empty : base + static_cast<size_t>(ptr);
  }

  // readMemory(ptr, len) → a copy of those bytes.
  Napi::Value ReadMemory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    double len = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
    uint8_t* p = Range(env, info.Length() > 0 ? info[0] : env.Undefined(), len);
    if (!p) return env.Undefined();
    return Napi::Buffer<uint8_t>::Copy(env, p, static_cast<size_t>(len));
  }

  // writeMemory(ptr, bytes)
  Napi::Value WriteMemory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      MakeError(env, "WASM3_USAGE", "writeMemory(ptr: number, bytes: Uint8Array)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
    uint8_t* p = Range(env, info[0], static_cast<double>(bytes.ByteLength()));
    if (!p) return env.Undefined();
    if (bytes.ByteLength() > 0) std::memmove(p, bytes.Data(), bytes.ByteLength());
    return env.Undefined();
  }

  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    uint32_t size = 0;
    if (runtime_) m3_GetMemory(runtime_, &size, 0);
    return Napi::Number::New(info.Env(), size);
  }

  Napi::Value FuelUsed(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(fuelUsed_)); }

  // dispose(): free the runtime now (or right after the running call returns).
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (running_) disposeAfterCall_ = true;
    else Release();
    return info.Env().Undefined();
  }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Instance", Instance::Define(env));
  exports.Set("version", Napi::String::New(env, M3_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(wasm3, Init)
