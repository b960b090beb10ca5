//===- squant-compile.cpp - compile models to CPU/GPU artifacts -----------===//
//
//   squant-compile INPUT --target=cpu|cuda [--chip=sm_XX]
//                  --emit=mlir|llvm|ptx|cubin|obj|so -o OUT
//                  [--gpu-host-emulation]
//
// INPUT is a model directory (LLaMA-family config.json + safetensors, or a
// .gguf file in it), a .gguf file, a config.json, or an MLIR module. Models
// are imported into func + tensor/linalg + squant IR (lib/Import) with the
// weights as function arguments, lowered through the same pipeline builders
// as squant-opt (lib/Pipelines), and emitted at the requested stage. For a
// model with --emit=so, OUT is a directory that squant-run --model runs:
// model.so + manifest.json (weights stay in their files, mapped at run time).
//
//===----------------------------------------------------------------------===//

#include "squant/Import/LlamaBuilder.h"
#include "squant/Import/ModelConfig.h"
#include "squant/Import/Weights.h"
#include "squant/InitSQuant.h"
#include "squant/Pipelines/Pipelines.h"
#include "squant/Support/ParserGuard.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <chrono>

using namespace mlir;
using namespace mlir::squant;
namespace cl = llvm::cl;

static cl::OptionCategory cat("squant-compile options");
static cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                      cl::desc("<model dir | model.gguf | "
                                               "config.json | module.mlir>"),
                                      cl::cat(cat));
static cl::opt<std::string> outputPath("o", cl::Required,
                                       cl::desc("Output file (a directory "
                                                "for a model with --emit=so)"),
                                       cl::value_desc("OUT"), cl::cat(cat));
enum class Target { CPU, CUDA };
static cl::opt<Target> target(
    "target", cl::desc("Target"), cl::init(Target::CPU),
    cl::values(clEnumValN(Target::CPU, "cpu", "x86-64 / host CPU"),
               clEnumValN(Target::CUDA, "cuda", "NVIDIA GPU (NVVM)")),
    cl::cat(cat));
static cl::opt<std::string> chip("chip", cl::desc("GPU architecture (sm_XX)"),
                                 cl::init("sm_80"), cl::cat(cat));
enum class Emit { MLIR, LLVM, PTX, Cubin, Obj, SO };
static cl::opt<Emit> emit(
    "emit", cl::desc("What to emit"), cl::init(Emit::SO),
    cl::values(clEnumValN(Emit::MLIR, "mlir",
                          "the imported module (func + linalg + squant)"),
               clEnumValN(Emit::LLVM, "llvm", "LLVM IR after optimization"),
               clEnumValN(Emit::PTX, "ptx", "PTX (--target=cuda)"),
               clEnumValN(Emit::Cubin, "cubin", "cubin (--target=cuda)"),
               clEnumValN(Emit::Obj, "obj", "an object file"),
               clEnumValN(Emit::SO, "so",
                          "a shared library (models: a runnable directory)")),
    cl::cat(cat));
static cl::opt<std::string> kvCache(
    "kv-cache",
    cl::desc("KV cache: f32 or f16 (unquantized), or kvquant2|kvquant3|"
             "kvquant4|kivi2|kivi3|kivi4 (quantized, docs/driver.md)"),
    cl::init("f32"), cl::cat(cat));
static cl::opt<int> kvOutliers(
    "kv-outliers",
    cl::desc("kvquant: outlier slots per token vector (default: 1% of the "
             "head dim, rounded up)"),
    cl::init(-1), cl::cat(cat));
static cl::opt<int> kvSink("kv-sink",
                           cl::desc("Tokens kept unquantized at the start "
                                    "(default: kvquant 1, kivi 0)"),
                           cl::init(-1), cl::cat(cat));
static cl::opt<int> kvGroup("kv-group",
                            cl::desc("kivi: group size G (default: 32, or "
                                     "the head dim if smaller)"),
                            cl::init(-1), cl::cat(cat));
static cl::opt<int> kvResidual("kv-residual",
                               cl::desc("kivi: unquantized residual window "
                                        "R, a multiple of G (default: 128)"),
                               cl::init(-1), cl::cat(cat));
static cl::list<std::string>
    weightFiles("weights", cl::desc("Weight files (default: the *.safetensors "
                                    "or *.gguf next to config.json)"),
                cl::CommaSeparated, cl::cat(cat));
static cl::opt<bool> noWeights(
    "no-weights",
    cl::desc("Compile from config.json alone, assuming dense weights of "
             "--weight-dtype (the result cannot be run)"),
    cl::cat(cat));
static cl::opt<std::string> weightDType("weight-dtype",
                                        cl::desc("Dense dtype for "
                                                 "--no-weights: f16, bf16, "
                                                 "f32"),
                                        cl::init("f16"), cl::cat(cat));
static cl::opt<std::string> pipelineOptions(
    "pipeline-options",
    cl::desc("Options of squant-cpu-pipeline, e.g. 'kernels=reference' "
             "(of squant-gpu-pipeline with --target=cuda)"),
    cl::init(""), cl::cat(cat));
static cl::opt<std::string> mcpu("mcpu",
                                 cl::desc("CPU to generate code for "
                                          "(default: the host)"),
                                 cl::init("host"), cl::cat(cat));
static cl::opt<bool> gpuHostEmulation(
    "gpu-host-emulation",
    cl::desc("Testing without a GPU: with --target=cuda, lower through "
             "squant-gpu-pipeline{host-emulation=true} (the same kernels, run "
             "on the host) and emit llvm, obj or so like --target=cpu"),
    cl::cat(cat));
static cl::opt<bool> quiet("quiet", cl::desc("No progress on stderr"),
                           cl::cat(cat));
static cl::opt<std::string> tokenizerPath(
    "tokenizer",
    cl::desc("Tokenizer for squant-run: a tokenizer.json or a .gguf file "
             "(default: tokenizer.json next to config.json, or the GGUF "
             "input's own)"),
    cl::cat(cat));

namespace {
using Clock = std::chrono::steady_clock;

/// Progress lines on stderr for the long steps.
struct Progress {
  Clock::time_point start = Clock::now();
  Clock::time_point stepStart;
  std::string current;
  void begin(StringRef step) {
    current = step.str();
    stepStart = Clock::now();
    if (!quiet)
      llvm::errs() << "squant-compile: " << step << " ...\n";
  }
  void end(StringRef detail = "") {
    double s = std::chrono::duration<double>(Clock::now() - stepStart).count();
    if (!quiet)
      llvm::errs() << llvm::formatv("squant-compile: {0} done in {1:F2} s{2}\n",
                                    current, s,
                                    detail.empty() ? "" : " (" + detail + ")");
  }
  double total() const {
    return std::chrono::duration<double>(Clock::now() - start).count();
  }
};

int failMsg(const Twine &msg) {
  llvm::errs() << "squant-compile: error: " << msg << "\n";
  return 1;
}

bool isDir(StringRef p) { return llvm::sys::fs::is_directory(p); }

/// Files in `dir` whose names end with `suffix`, sorted.
std::vector<std::string> listFiles(StringRef dir, StringRef suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    if (StringRef(it->path()).ends_with(suffix))
      out.push_back(it->path());
  llvm::sort(out);
  return out;
}

std::string absolute(StringRef p) {
  SmallString<256> s(p);
  llvm::sys::fs::make_absolute(s);
  llvm::sys::path::remove_dots(s, /*remove_dot_dot=*/true);
  return std::string(s);
}

/// Imports a model input (directory, config.json or .gguf).
/// `hoistTables`: build ggml tables at load time (BuildOptions::hoistTables).
FailureOr<OwningOpRef<ModuleOp>> importModel(MLIRContext &context,
                                             runtime::ModelManifest &manifest,
                                             bool hoistTables) {
  std::string configPath, dir;
  std::vector<std::string> weights(weightFiles.begin(), weightFiles.end());
  StringRef in = inputPath;
  if (isDir(in)) {
    dir = in.str();
    SmallString<256> c(in);
    llvm::sys::path::append(c, "config.json");
    if (llvm::sys::fs::exists(c))
      configPath = std::string(c);
    if (weights.empty()) {
      weights = listFiles(in, ".safetensors");
      if (weights.empty())
        weights = listFiles(in, ".gguf");
    }
    if (configPath.empty() &&
        !(weights.size() == 1 && StringRef(weights[0]).ends_with(".gguf"))) {
      failMsg(in + ": no config.json (and no single .gguf file) in the "
                   "model directory");
      return failure();
    }
  } else if (in.ends_with(".gguf")) {
    weights = {in.str()};
  } else {
    configPath = in.str();
    dir = llvm::sys::path::parent_path(in).str();
    if (dir.empty())
      dir = ".";
    if (weights.empty() && !noWeights) {
      weights = listFiles(dir, ".safetensors");
      if (weights.empty())
        weights = listFiles(dir, ".gguf");
    }
  }
  if (noWeights)
    weights.clear();
  if (weights.empty() && !noWeights) {
    failMsg(in + ": no weight files found (*.safetensors or *.gguf); pass "
                 "--weights=FILE or --no-weights");
    return failure();
  }

  std::unique_ptr<import::WeightFiles> files;
  if (!weights.empty()) {
    auto opened = import::WeightFiles::open(weights);
    if (!opened) {
      failMsg(llvm::toString(opened.takeError()));
      return failure();
    }
    files = std::move(*opened);
  }

  import::LlamaConfig config;
  if (files && files->isGGUF() && configPath.empty()) {
    auto c = import::LlamaConfig::fromGGUF(*files->getGGUF());
    if (!c) {
      failMsg(llvm::toString(c.takeError()));
      return failure();
    }
    config = *c;
  } else {
    auto text = llvm::MemoryBuffer::getFile(configPath);
    if (!text) {
      failMsg(configPath + ": cannot read: " + text.getError().message());
      return failure();
    }
    auto c = import::LlamaConfig::fromJSON((*text)->getBuffer(), configPath);
    if (!c) {
      failMsg(llvm::toString(c.takeError()));
      return failure();
    }
    config = *c;
    if (files && files->isGGUF())
      config.ropeStyle = import::RopeStyle::Interleaved;
  }

  import::LlamaWeights lw;
  if (files) {
    auto r = import::resolveLlamaWeights(config, *files);
    if (!r) {
      failMsg(llvm::toString(r.takeError()));
      return failure();
    }
    lw = std::move(*r);
  } else {
    auto dt = runtime::parseDType(StringRef(weightDType).upper());
    if (!dt || (*dt != runtime::DType::F16 && *dt != runtime::DType::F32 &&
                *dt != runtime::DType::BF16)) {
      failMsg("--weight-dtype must be f16, bf16 or f32");
      return failure();
    }
    lw = import::syntheticLlamaWeights(config, *dt);
  }

  import::BuildOptions options;
  StringRef kv = kvCache;
  runtime::KVFormat &kf = options.kvFormat;
  if (kv == "f16") {
    options.kvCache = runtime::DType::F16;
  } else if (kv.consume_front("kvquant") || kv.consume_front("kivi")) {
    kf.method = StringRef(kvCache).starts_with("kivi") ? "kivi" : "kvquant";
    if (kv != "2" && kv != "3" && kv != "4") {
      failMsg("--kv-cache=" + kvCache +
              ": the bits must be 2, 3 or 4 (e.g. kvquant3, kivi2)");
      return failure();
    }
    kf.bits = kv.front() - '0';
    options.kvCache = runtime::DType::F16; // the cache's floats
  } else if (kv != "f32") {
    failMsg("--kv-cache must be f32, f16, kvquant2, kvquant3, kvquant4, "
            "kivi2, kivi3 or kivi4 (got '" + kvCache + "')");
    return failure();
  }
  auto kvOption = [&](cl::opt<int> &opt, StringRef name, bool applies,
                      int64_t &out, int64_t dflt) -> bool {
    if (opt.getNumOccurrences() == 0) {
      out = applies ? dflt : 0;
      return true;
    }
    if (!applies) {
      failMsg("--" + name.str() + " does not apply to --kv-cache=" + kvCache);
      return false;
    }
    if (opt < 0 || (name != "kv-outliers" && name != "kv-sink" && opt == 0)) {
      failMsg("--" + name.str() + " must be " +
              (name == "kv-outliers" || name == "kv-sink" ? "non-negative"
                                                          : "positive"));
      return false;
    }
    out = opt;
    return true;
  };
  bool isKVQuant = kf.method == "kvquant", isKivi = kf.method == "kivi";
  int64_t d = config.headDim;
  if (!kvOption(kvOutliers, "kv-outliers", isKVQuant, kf.outliers,
                (d + 99) / 100) ||
      !kvOption(kvSink, "kv-sink", kf.quantized(), kf.sink, isKVQuant ? 1 : 0) ||
      !kvOption(kvGroup, "kv-group", isKivi, kf.group, std::min<int64_t>(32, d)) ||
      !kvOption(kvResidual, "kv-residual", isKivi, kf.residual, 128))
    return failure();
  options.hoistTables = hoistTables;
  auto module = import::buildLlamaModule(context, config, lw, options,
                                         manifest);
  if (failed(module))
    return failure();
  if (files) {
    for (StringRef p : files->paths())
      manifest.files.push_back(absolute(p));
    if (files->isGGUF()) {
      const runtime::GGUFFile *g = files->getGGUF();
      if (g->getStrings("tokenizer.ggml.tokens")) {
        manifest.tokenizerKind = "gguf";
        manifest.tokenizerPath = manifest.files[0];
      }
    } else if (!dir.empty()) {
      SmallString<256> t(dir);
      llvm::sys::path::append(t, "tokenizer.json");
      if (llvm::sys::fs::exists(t)) {
        manifest.tokenizerKind = "hf";
        manifest.tokenizerPath = absolute(t);
      }
    }
  }
  if (!tokenizerPath.empty()) {
    if (!llvm::sys::fs::exists(tokenizerPath)) {
      failMsg(tokenizerPath + ": no such tokenizer file");
      return failure();
    }
    manifest.tokenizerKind =
        StringRef(tokenizerPath).ends_with(".gguf") ? "gguf" : "hf";
    manifest.tokenizerPath = absolute(tokenizerPath);
  }
  return module;
}

int compile(MLIRContext &context, DefaultTimingManager &tm) {
  Progress progress;
  TimingScope root = tm.getRootScope();
  bool isMLIR = StringRef(inputPath).ends_with(".mlir");

  if (target == Target::CUDA) {
    if (!llvm::StringRef(chip).starts_with("sm_") ||
        StringRef(chip).drop_front(3).empty() ||
        !llvm::all_of(StringRef(chip).drop_front(3).rtrim('a'),
                      [](char ch) { return ch >= '0' && ch <= '9'; }))
      return failMsg("--chip='" + chip + "' is not an NVIDIA architecture "
                                         "(sm_XX, e.g. sm_80, sm_90a)");
    if (emit != Emit::MLIR && !PassPipelineInfo::lookup("squant-gpu-pipeline"))
      return failMsg("--target=cuda: the GPU lowering (squant-gpu-pipeline) "
                     "is not available yet; only --emit=mlir works for "
                     "--target=cuda until it lands");
    if (gpuHostEmulation) {
      if (emit == Emit::PTX || emit == Emit::Cubin)
        return failMsg("--gpu-host-emulation emits mlir, llvm, obj or so "
                       "(host code), not ptx or cubin");
    } else if (emit != Emit::MLIR && emit != Emit::PTX &&
               emit != Emit::Cubin) {
      return failMsg("--target=cuda emits mlir, ptx or cubin (llvm, obj "
                     "and so with --gpu-host-emulation)");
    }
  } else if (emit == Emit::PTX || emit == Emit::Cubin) {
    return failMsg("--emit=ptx and --emit=cubin need --target=cuda");
  } else if (gpuHostEmulation) {
    return failMsg("--gpu-host-emulation needs --target=cuda");
  }

  // The CPU pipeline's options, parsed before the import: the fast CPU
  // kernels compute affine (ggml) table entries in registers, so tables
  // built at load time would only cost memory and bandwidth.
  auto cpuOptions = std::make_unique<CPUPipelineOptions>();
  if (target == Target::CPU) {
    std::string errs;
    llvm::raw_string_ostream es(errs);
    if (failed(cpuOptions->parseFromString(pipelineOptions, es)))
      return failMsg("invalid --pipeline-options '" + pipelineOptions +
                     "': " + errs);
  }
  bool hoistTables = target != Target::CPU ||
                     cpuOptions->kernels == CPUKernels::Reference;

  // 1. Import.
  runtime::ModelManifest manifest;
  OwningOpRef<ModuleOp> module;
  {
    TimingScope t = root.nest("Import");
    progress.begin("import");
    if (isMLIR) {
      std::string err;
      auto file = openInputFile(inputPath, &err);
      if (!file)
        return failMsg(err);
      llvm::SourceMgr sm;
      sm.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
      SourceMgrDiagnosticHandler handler(sm, &context);
      // Input the MLIR 22 parser would crash on gets a diagnostic instead.
      if (reportKnownParserCrash(sm))
        return 1;
      module = parseSourceFile<ModuleOp>(sm, &context);
      if (!module)
        return 1;
    } else {
      auto m = importModel(context, manifest, hoistTables);
      if (failed(m))
        return 1;
      module = std::move(*m);
    }
    progress.end(isMLIR ? "" :
                 llvm::formatv("{0} layers, {1} layer function(s)",
                               manifest.numLayers, manifest.numLayerFunctions)
                     .str());
  }
  bool isModel = !isMLIR;

  auto openOut = [&](StringRef path) -> std::unique_ptr<llvm::ToolOutputFile> {
    std::string err;
    auto out = openOutputFile(path, &err);
    if (!out)
      failMsg(err);
    return out;
  };

  if (emit == Emit::MLIR) {
    auto out = openOut(outputPath);
    if (!out)
      return 1;
    module->print(out->os());
    out->keep();
    return 0;
  }

  // Every public function gets the C interface (models already have it).
  for (auto fn : module->getOps<func::FuncOp>())
    if (!fn.isExternal() && fn.isPublic())
      fn->setAttr("llvm.emit_c_interface", UnitAttr::get(&context));

  // GPU: the registered squant-gpu-pipeline (lib/Pipelines), then the
  // device binaries that gpu-module-to-binary attached to the module. With
  // --gpu-host-emulation the kernels become host loops and the module goes
  // on to LLVM like the CPU pipeline's output.
  if (target == Target::CUDA) {
    progress.begin("squant-gpu-pipeline");
    PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return failMsg("invalid pass manager options");
    TimingScope t = root.nest("squant-gpu-pipeline");
    pm.enableTiming(t);
    std::string options = "chip=" + chip + " format=" +
                          (emit == Emit::Cubin ? "bin" : "isa");
    if (gpuHostEmulation)
      options += " host-emulation=true";
    if (!pipelineOptions.empty())
      options += " " + pipelineOptions;
    const PassPipelineInfo *gpu = PassPipelineInfo::lookup("squant-gpu-pipeline");
    if (failed(gpu->addToPipeline(pm, options, [&](const Twine &msg) {
          failMsg("squant-gpu-pipeline{" + options + "}: " + msg);
          return failure();
        })))
      return 1;
    if (failed(pm.run(*module)))
      return failMsg("lowering through squant-gpu-pipeline failed");
    progress.end();
  }
  if (target == Target::CUDA && !gpuHostEmulation) {
    std::string blob;
    module->walk([&](gpu::BinaryOp bin) {
      for (Attribute a : bin.getObjects())
        if (auto obj = dyn_cast<gpu::ObjectAttr>(a))
          blob += obj.getObject().getValue().str();
    });
    if (blob.empty())
      return failMsg("squant-gpu-pipeline produced no device binary");
    auto out = openOut(outputPath);
    if (!out)
      return 1;
    out->os() << blob;
    out->keep();
    return 0;
  }

  // 2. The CPU pipeline (the builder squant-opt registers).
  if (target == Target::CPU) {
    progress.begin("squant-cpu-pipeline");
    PassManager pm(&context);
    if (failed(applyPassManagerCLOptions(pm)))
      return failMsg("invalid pass manager options");
    TimingScope t = root.nest("squant-cpu-pipeline");
    pm.enableTiming(t);
    buildCPUPipeline(pm, *cpuOptions);
    if (failed(pm.run(*module)))
      return failMsg("lowering through squant-cpu-pipeline failed");
    progress.end();
  }

  // 3. LLVM IR, optimized for the target machine.
  progress.begin("LLVM optimization and code generation");
  TimingScope llvmScope = root.nest("LLVM");
  registerBuiltinDialectTranslation(context);
  registerLLVMDialectTranslation(context);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule;
  {
    TimingScope t = llvmScope.nest("Translate to LLVM IR");
    llvmModule = translateModuleToLLVMIR(*module, llvmContext, "squant");
    if (!llvmModule)
      return failMsg("translation to LLVM IR failed");
  }
  std::string tripleStr = llvm::sys::getDefaultTargetTriple();
  llvm::Triple triple(tripleStr);
  std::string err;
  const llvm::Target *llvmTarget =
      llvm::TargetRegistry::lookupTarget(triple, err);
  if (!llvmTarget)
    return failMsg("no LLVM target for " + tripleStr + ": " + err);
  std::string cpu = mcpu == "host" ? llvm::sys::getHostCPUName().str()
                                   : std::string(mcpu);
  std::string features;
  if (mcpu == "host") {
    llvm::SubtargetFeatures f;
    for (const auto &[name, on] : llvm::sys::getHostCPUFeatures())
      f.AddFeature(name, on);
    features = f.getString();
  }
  llvm::TargetOptions topts;
  std::unique_ptr<llvm::TargetMachine> machine(llvmTarget->createTargetMachine(
      triple, cpu, features, topts, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return failMsg("cannot create a target machine for " + tripleStr + " " +
                   cpu);
  bool usesOpenMP = llvm::any_of(llvmModule->functions(), [](llvm::Function &f) {
    return f.getName().starts_with("__kmpc_");
  });
  llvmModule->setTargetTriple(triple);
  llvmModule->setDataLayout(machine->createDataLayout());
  {
    TimingScope t = llvmScope.nest("Optimize (O3)");
    auto transformer = makeOptimizingTransformer(3, 0, machine.get());
    if (llvm::Error e = transformer(llvmModule.get()))
      return failMsg("LLVM optimization failed: " +
                     llvm::toString(std::move(e)));
  }
  if (emit == Emit::LLVM) {
    auto out = openOut(outputPath);
    if (!out)
      return 1;
    llvmModule->print(out->os(), nullptr);
    out->keep();
    progress.end();
    return 0;
  }

  // 4. Object file.
  SmallString<256> objPath;
  std::unique_ptr<llvm::ToolOutputFile> objOut;
  SmallString<256> outDir;
  if (emit == Emit::Obj) {
    objPath = outputPath;
  } else if (isModel) {
    outDir = outputPath;
    if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
      return failMsg(outDir + ": cannot create: " + ec.message());
    objPath = outDir;
    llvm::sys::path::append(objPath, "model.o");
  } else {
    objPath = outputPath;
    objPath += ".o";
  }
  {
    TimingScope t = llvmScope.nest("Code generation");
    objOut = openOut(objPath);
    if (!objOut)
      return 1;
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, objOut->os(), nullptr,
                                     llvm::CodeGenFileType::ObjectFile))
      return failMsg("the target cannot emit object files");
    codegen.run(*llvmModule);
    objOut->os().flush();
    objOut->keep();
  }
  progress.end();
  if (emit == Emit::Obj)
    return 0;

  // 5. Shared library: the system C compiler driver links it against the
  // MLIR C runner utilities (memrefCopy) and libm.
  progress.begin("link");
  TimingScope linkScope = root.nest("Link");
  SmallString<256> soPath;
  if (isModel) {
    soPath = outDir;
    llvm::sys::path::append(soPath, "model.so");
  } else {
    soPath = outputPath;
  }
  std::string linker;
  for (const char *name : {"cc", "gcc", "clang", "clang-22"})
    if (auto p = llvm::sys::findProgramByName(name)) {
      linker = *p;
      break;
    }
  if (linker.empty())
    return failMsg("no C compiler driver (cc, gcc or clang) found to link "
                   "the shared library; use --emit=obj");
  std::string libDir = SQUANT_MLIR_LIB_DIR;
  SmallVector<std::string> args = {linker,
                                   "-shared",
                                   "-o",
                                   std::string(soPath),
                                   std::string(objPath),
                                   "-L" + libDir,
                                   "-Wl,-rpath," + libDir,
                                   "-lmlir_c_runner_utils",
                                   "-lm"};
  // The multithreaded CPU kernels call the OpenMP runtime (__kmpc_*): the
  // library records libomp as a dependency so that loading it is enough.
  if (usesOpenMP) {
    StringRef omp = SQUANT_OMP_LIB;
    if (omp.empty())
      return failMsg("the module uses OpenMP but no libomp was found when "
                     "squant was built (install libomp-22-dev and "
                     "reconfigure), or compile with threads=1");
    args.push_back(omp.str());
    args.push_back("-Wl,-rpath," +
                   llvm::sys::path::parent_path(omp).str());
  }
  SmallVector<StringRef> argRefs(args.begin(), args.end());
  std::string execErr;
  int rc = llvm::sys::ExecuteAndWait(linker, argRefs, std::nullopt, {}, 0, 0,
                                     &execErr);
  llvm::sys::fs::remove(objPath);
  if (rc != 0)
    return failMsg("linking " + soPath + " failed" +
                   (execErr.empty() ? "" : ": " + execErr));
  progress.end();

  if (isModel) {
    SmallString<256> manPath(outDir);
    llvm::sys::path::append(manPath, "manifest.json");
    auto out = openOut(manPath);
    if (!out)
      return 1;
    out->os() << llvm::formatv("{0:2}", manifest.toJSON()) << "\n";
    out->keep();
  }
  if (!quiet)
    llvm::errs() << llvm::formatv("squant-compile: wrote {0} in {1:F2} s\n",
                                  isModel ? StringRef(outDir) : StringRef(soPath),
                                  progress.total());
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  registerAsmPrinterCLOptions();
  // The registered pipelines: squant-gpu-pipeline is looked up by name so
  // that --target=cuda uses it as soon as it is built.
  registerSQuantPassesAndPipelines();
  // --help shows squant-compile's own options (the MLIR ones such as
  // --mlir-timing and --mlir-print-ir-after-all still work).
  cl::HideUnrelatedOptions(cat);
  cl::ParseCommandLineOptions(
      argc, argv,
      "squant-compile: compile LLaMA-family models (config.json + "
      "safetensors, GGUF) or MLIR modules to CPU objects and shared "
      "libraries\n\nAlso accepted: --mlir-timing, --mlir-print-ir-after-all "
      "and the other MLIR pass-manager options.\n");
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();

  DialectRegistry registry;
  registerSQuantDialects(registry);
  registerAllToLLVMIRTranslations(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  DefaultTimingManager tm;
  applyDefaultTimingManagerCLOptions(tm);
  int rc = compile(context, tm);
  return rc;
}
