//===- squant-run.cpp - JIT-compile and run one function ------------------===//
//
// Whole models (a directory written by squant-compile) run with
//   squant-run --model=DIR (--prompt=TEXT | --tokens=IDS) --max-new-tokens=N
// (see tools/squant-run/ModelMode.cpp).
//
//   squant-run FILE.mlir --function=F --inputs=IN.safetensors
//              --outputs=OUT.safetensors [--arg=NAME,...] [--result=NAME,...]
//
// Compiles F through squant-cpu-pipeline, binds each argument by name (the
// `squant.name` argument attribute, or --arg in order) to a tensor of IN,
// runs it with the ExecutionEngine and writes the results to OUT (named by
// `squant.name` result attributes, --result, or result0, result1, ...).
// Every failure is a diagnostic and a non-zero exit.
//
//===----------------------------------------------------------------------===//

#include "squant/Dialect/SQuant/IR/SQuantDialect.h"
#include "squant/InitSQuant.h"
#include "squant/Pipelines/Pipelines.h"
#include "squant/Runtime/MemRefCall.h"
#include "squant/Runtime/SafeTensors.h"
#include "squant/Support/ParserGuard.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <cstring>
#include <optional>

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::runtime;
namespace cl = llvm::cl;

// ModelMode.cpp
void registerModelModeOptions();
bool isModelMode();
int runModelMode();

static cl::OptionCategory runCat("squant-run options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input.mlir>"),
                                      cl::cat(runCat));
static cl::opt<std::string> functionName("function",
                                         cl::desc("Function to run"),
                                         cl::cat(runCat));
static cl::opt<std::string>
    inputsPath("inputs", cl::desc("safetensors file holding the arguments"),
               cl::cat(runCat));
static cl::opt<std::string>
    outputsPath("outputs", cl::desc("safetensors file to write the results to"),
                cl::cat(runCat));
static cl::list<std::string>
    argNames("arg", cl::desc("Tensor names bound to the arguments, in order"),
             cl::CommaSeparated, cl::cat(runCat));
static cl::list<std::string>
    resultNames("result", cl::desc("Names given to the results, in order"),
                cl::CommaSeparated, cl::cat(runCat));
static cl::opt<bool> printResults("print",
                                  cl::desc("Print the results to stdout"),
                                  cl::cat(runCat));
static cl::opt<std::string> pipelineOptions(
    "pipeline-options",
    cl::desc("Options of squant-cpu-pipeline, e.g. 'kernels=reference'"),
    cl::init(""), cl::cat(runCat));
static cl::list<std::string>
    sharedLibs("shared-libs", cl::desc("Extra libraries to load into the JIT"),
               cl::CommaSeparated, cl::cat(runCat));

namespace {
/// Name of an argument or result given by the `squant.name` attribute.
constexpr llvm::StringLiteral kNameAttr = SQuantDialect::kNameAttrName;

/// The safetensors dtype a tensor element type is written as.
std::optional<DType> dtypeFor(Type t) {
  if (t.isF64()) return DType::F64;
  if (t.isF32()) return DType::F32;
  if (t.isF16()) return DType::F16;
  if (t.isBF16()) return DType::BF16;
  if (t.isSignlessInteger(64)) return DType::I64;
  if (t.isSignlessInteger(32)) return DType::I32;
  if (t.isSignlessInteger(16)) return DType::I16;
  if (t.isSignlessInteger(8)) return DType::I8;
  if (t.isSignlessInteger(1)) return DType::Bool;
  if (auto i = dyn_cast<IntegerType>(t); i && i.isSignless() && i.getWidth() < 8)
    return DType::U8;
  return std::nullopt;
}

/// Whether a file tensor of `dtype` can be bound to elements of type `t`
/// (bytes are passed unchanged; narrow codes are range-checked).
bool accepts(Type t, DType dtype) {
  std::optional<DType> natural = dtypeFor(t);
  if (!natural)
    return false;
  if (*natural == dtype)
    return true;
  auto i = dyn_cast<IntegerType>(t);
  if (!i)
    return false;
  if (i.getWidth() == 8)
    return dtype == DType::U8;
  if (i.getWidth() < 8)
    return dtype == DType::I8;
  return (i.getWidth() == 16 && dtype == DType::U16) ||
         (i.getWidth() == 32 && dtype == DType::U32) ||
         (i.getWidth() == 64 && dtype == DType::U64);
}

/// An argument buffer: points into the mapping, or into aligned storage when
/// the mapped bytes are not aligned to the element size.
struct BoundArg {
  void *data;
  llvm::SmallVector<int64_t> sizes;
  std::unique_ptr<uint8_t[], decltype(&std::free)> owned{nullptr, &std::free};
};

std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + (ShapedType::isDynamic(shape[i])
                                ? std::string("?")
                                : std::to_string(shape[i]));
  return s + "]";
}

void printTensor(llvm::raw_ostream &os, StringRef name, Type elt,
                 ArrayRef<int64_t> shape, ArrayRef<uint8_t> bytes) {
  os << name << ": " << shapeString(shape) << " " << elt << "\n";
  int64_t count = shape.empty() ? 1 : 1;
  for (int64_t d : shape)
    count *= d;
  int64_t row = shape.empty() ? 1 : std::max<int64_t>(shape.back(), 1);
  for (int64_t i = 0; i < count; ++i) {
    const uint8_t *p = bytes.data() + i * ((elt.getIntOrFloatBitWidth() + 7) / 8);
    double v = 0;
    if (elt.isF32()) { float f; std::memcpy(&f, p, 4); v = f; }
    else if (elt.isF64()) std::memcpy(&v, p, 8);
    else if (elt.isF16() || elt.isBF16()) {
      uint16_t h; std::memcpy(&h, p, 2);
      uint32_t bits;
      if (elt.isBF16()) bits = uint32_t(h) << 16;
      else {
        uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
        if (exp == 0 && man == 0) bits = sign;
        else if (exp == 0) { // subnormal
          float f = std::ldexp(float(man), -24); std::memcpy(&bits, &f, 4); bits |= sign;
        } else if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
        else bits = sign | ((exp + 112) << 23) | (man << 13);
      }
      float f; std::memcpy(&f, &bits, 4); v = f;
    } else {
      unsigned w = elt.getIntOrFloatBitWidth();
      int64_t iv = 0;
      if (w <= 8) iv = w < 8 ? int64_t(*p) : int64_t(int8_t(*p));
      else if (w == 16) { int16_t x; std::memcpy(&x, p, 2); iv = x; }
      else if (w == 32) { int32_t x; std::memcpy(&x, p, 4); iv = x; }
      else { std::memcpy(&iv, p, 8); }
      v = double(iv);
    }
    os << (i % row == 0 ? "  " : " ") << llvm::format("%g", v);
    if (i % row == row - 1 || i == count - 1)
      os << "\n";
  }
}

int run(MLIRContext &context, llvm::SourceMgr &sourceMgr) {
  if (reportKnownParserCrash(sourceMgr))
    return 1;
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;
  auto fail = [&](Location loc, const Twine &msg) {
    emitError(loc) << msg;
    return 1;
  };
  auto failNoLoc = [&](const Twine &msg) {
    llvm::errs() << "squant-run: error: " << msg << "\n";
    return 1;
  };

  auto func = module->lookupSymbol<func::FuncOp>(functionName);
  if (!func || func.isExternal()) {
    std::string available;
    for (auto f : module->getOps<func::FuncOp>())
      if (!f.isExternal())
        available += (available.empty() ? "" : ", ") + f.getSymName().str();
    return fail(module->getLoc(),
                "unknown function '" + functionName + "' (functions: " +
                    (available.empty() ? "none" : available) + ")");
  }
  FunctionType type = func.getFunctionType();

  // Names of arguments and results.
  SmallVector<std::string> names;
  if (!argNames.empty()) {
    if (argNames.size() != type.getNumInputs())
      return fail(func.getLoc(),
                  llvm::formatv("--arg names {0} tensors but '{1}' takes {2} "
                                "arguments",
                                argNames.size(), functionName,
                                type.getNumInputs()));
    names.assign(argNames.begin(), argNames.end());
  } else {
    for (unsigned i = 0; i < type.getNumInputs(); ++i) {
      auto attr = func.getArgAttrOfType<StringAttr>(i, kNameAttr);
      if (!attr)
        return fail(func.getArgument(i).getLoc(),
                    llvm::formatv("argument #{0} has no name: give it a "
                                  "{{squant.name = \"...\"} attribute or "
                                  "pass --arg",
                                  i));
      names.push_back(attr.str());
    }
  }
  SmallVector<std::string> outNames;
  for (unsigned i = 0; i < type.getNumResults(); ++i) {
    if (i < resultNames.size())
      outNames.push_back(resultNames[i]);
    else if (auto attr = func.getResultAttrOfType<StringAttr>(i, kNameAttr))
      outNames.push_back(attr.str());
    else
      outNames.push_back("result" + std::to_string(i));
  }
  if (resultNames.size() > type.getNumResults())
    return fail(func.getLoc(),
                llvm::formatv("--result names {0} tensors but '{1}' returns {2}",
                              resultNames.size(), functionName,
                              type.getNumResults()));
  SmallVector<unsigned> resultRanks;
  for (auto [i, t] : llvm::enumerate(type.getResults())) {
    auto rt = dyn_cast<RankedTensorType>(t);
    if (!rt || !dtypeFor(rt.getElementType()))
      return fail(func.getLoc(),
                  llvm::formatv("result #{0} has type {1}; squant-run returns "
                                "ranked tensors of f64, f32, f16, bf16 or "
                                "integer elements",
                                i, t));
    resultRanks.push_back(rt.getRank());
  }
  if (outputsPath.empty() && !printResults)
    return failNoLoc("nothing to do with the results: pass --outputs=FILE "
                     "and/or --print");

  // Bind the arguments.
  std::unique_ptr<SafeTensorsFile> inputs;
  if (type.getNumInputs() > 0) {
    if (inputsPath.empty())
      return fail(func.getLoc(), "'" + functionName +
                                     "' takes arguments: pass --inputs=FILE");
    auto opened = SafeTensorsFile::open(inputsPath);
    if (!opened)
      return failNoLoc(llvm::toString(opened.takeError()));
    inputs = std::move(*opened);
  }
  SmallVector<BoundArg> bound;
  for (unsigned i = 0; i < type.getNumInputs(); ++i) {
    Location argLoc = func.getArgument(i).getLoc();
    auto rt = dyn_cast<RankedTensorType>(type.getInput(i));
    if (!rt || !dtypeFor(rt.getElementType()))
      return fail(argLoc, llvm::formatv("argument #{0} has type {1}; "
                                        "squant-run binds ranked tensors of "
                                        "f64, f32, f16, bf16 or integers",
                                        i, type.getInput(i)));
    const TensorView *t = inputs->lookup(names[i]);
    if (!t)
      return fail(argLoc, "argument #" + std::to_string(i) + ": tensor '" +
                              names[i] + "' not found in " + inputsPath);
    if (!accepts(rt.getElementType(), t->dtype))
      return fail(argLoc, llvm::formatv("argument #{0}: tensor '{1}' has dtype "
                                        "{2}, which cannot be bound to "
                                        "element type {3}",
                                        i, names[i], dtypeName(t->dtype),
                                        rt.getElementType()));
    bool shapeOk = t->shape.size() == size_t(rt.getRank());
    for (int64_t d = 0; shapeOk && d < rt.getRank(); ++d)
      shapeOk = rt.isDynamicDim(d) || rt.getDimSize(d) == t->shape[d];
    if (!shapeOk)
      return fail(argLoc, llvm::formatv("argument #{0}: tensor '{1}' has shape "
                                        "{2}, expected {3}",
                                        i, names[i], shapeString(t->shape),
                                        shapeString(rt.getShape())));
    unsigned width = rt.getElementType().getIntOrFloatBitWidth();
    if (isa<IntegerType>(rt.getElementType()) && width < 8) {
      for (size_t e = 0; e < t->data.size(); ++e)
        if (t->data[e] >> width)
          return fail(argLoc, llvm::formatv("argument #{0}: value {1} of "
                                            "element {2} of tensor '{3}' does "
                                            "not fit in {4}",
                                            i, int(t->data[e]), e, names[i],
                                            rt.getElementType()));
    }
    BoundArg arg;
    arg.sizes.assign(t->shape.begin(), t->shape.end());
    unsigned elementSize = dtypeSize(t->dtype);
    auto addr = reinterpret_cast<uintptr_t>(t->data.data());
    if (addr % elementSize == 0 && !t->data.empty()) {
      arg.data = const_cast<uint8_t *>(t->data.data());
    } else {
      size_t bytes = std::max<size_t>(t->data.size(), 64);
      arg.owned.reset(static_cast<uint8_t *>(
          std::aligned_alloc(64, (bytes + 63) / 64 * 64)));
      if (!t->data.empty())
        std::memcpy(arg.owned.get(), t->data.data(), t->data.size());
      arg.data = arg.owned.get();
    }
    bound.push_back(std::move(arg));
    // Inputs are read-only mappings: bufferization must not write them.
    func.setArgAttr(i, "bufferization.writable", BoolAttr::get(&context, false));
  }

  // Names are bound; they mean nothing to the lowering.
  for (unsigned i = 0; i < type.getNumInputs(); ++i)
    func.removeArgAttr(i, kNameAttr);
  for (unsigned i = 0; i < type.getNumResults(); ++i)
    func.removeResultAttr(i, StringAttr::get(&context, kNameAttr));

  // Compile.
  std::string pipelineErrors;
  llvm::raw_string_ostream pipelineErrStream(pipelineErrors);
  auto options = std::make_unique<CPUPipelineOptions>();
  if (failed(options->parseFromString(pipelineOptions, pipelineErrStream)))
    return failNoLoc("invalid --pipeline-options '" + pipelineOptions +
                     "': " + pipelineErrors);
  PassManager pm(&context);
  if (failed(applyPassManagerCLOptions(pm)))
    return failNoLoc("invalid pass manager options");
  applyDefaultTimingPassManagerCLOptions(pm);
  // The JIT compiles for the host: kernels for an instruction set the host
  // lacks would not run (or not even compile).
  if (options->kernels == CPUKernels::Fast &&
      !hostSupportsCPUTarget(options->target))
    return failNoLoc("target=" + stringifyCPUTarget(options->target).str() +
                     " kernels cannot run on this host CPU (it supports "
                     "target=" +
                     stringifyCPUTarget(detectHostCPUTarget()).str() +
                     " and below)");
  buildCPUPipeline(pm, *options);
  if (failed(pm.run(*module)))
    return failNoLoc("compiling '" + functionName +
                     "' through squant-cpu-pipeline failed");

  ExecutionEngineOptions engineOptions;
  auto transformer = makeOptimizingTransformer(/*optLevel=*/3,
                                               /*sizeLevel=*/0,
                                               /*targetMachine=*/nullptr);
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  SmallVector<std::string> libs = {SQUANT_C_RUNNER_UTILS};
  // Multithreaded kernels call the OpenMP runtime.
  bool usesOpenMP = false;
  module->walk([&](Operation *op) {
    if (op->getDialect() && op->getDialect()->getNamespace() == "omp") {
      usesOpenMP = true;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (usesOpenMP) {
    if (StringRef(SQUANT_OMP_LIB).empty())
      return failNoLoc("the kernels are multithreaded but squant was built "
                       "without libomp (install libomp-22-dev and "
                       "reconfigure, or pass --pipeline-options=threads=1)");
    libs.push_back(SQUANT_OMP_LIB);
  }
  libs.append(sharedLibs.begin(), sharedLibs.end());
  SmallVector<StringRef> libRefs(libs.begin(), libs.end());
  engineOptions.sharedLibPaths = libRefs;
  auto engine = ExecutionEngine::create(*module, engineOptions);
  if (!engine)
    return failNoLoc("JIT compilation failed: " +
                     llvm::toString(engine.takeError()));

  SmallVector<MemRefArg> args;
  for (BoundArg &b : bound)
    args.push_back({b.data, b.sizes});
  auto results = callMemRefFunction(**engine, functionName, args, resultRanks);
  if (!results)
    return failNoLoc("calling '" + functionName +
                     "' failed: " + llvm::toString(results.takeError()));

  SafeTensorsWriter writer;
  for (auto [i, r] : llvm::enumerate(*results)) {
    Type elt = cast<RankedTensorType>(type.getResult(i)).getElementType();
    DType dtype = *dtypeFor(elt);
    std::vector<uint8_t> bytes = r.toContiguous(dtypeSize(dtype));
    if (printResults)
      printTensor(llvm::outs(), outNames[i], elt, r.sizes, bytes);
    writer.add(outNames[i], dtype, r.sizes, std::move(bytes));
  }
  SmallVector<const void *> argBuffers;
  for (const BoundArg &b : bound)
    argBuffers.push_back(b.data);
  freeResultBuffers(*results, argBuffers);
  if (!outputsPath.empty())
    if (llvm::Error err = writer.write(outputsPath))
      return failNoLoc(llvm::toString(std::move(err)));
  return 0;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  registerModelModeOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  registerAsmPrinterCLOptions();
  cl::ParseCommandLineOptions(
      argc, argv,
      "squant-run: JIT-compile one function through squant-cpu-pipeline and "
      "run it on safetensors inputs\n");

  if (isModelMode())
    return runModelMode();
  if (inputFile.empty() || functionName.empty()) {
    llvm::errs() << "squant-run: error: give FILE.mlir and --function=F, or "
                    "--model=DIR\n";
    return 1;
  }
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();

  DialectRegistry registry;
  registerSQuantDialects(registry);
  registerAllToLLVMIRTranslations(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  std::string errorMessage;
  auto file = openInputFile(inputFile, &errorMessage);
  if (!file) {
    llvm::errs() << "squant-run: error: " << errorMessage << "\n";
    return 1;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  return run(context, sourceMgr);
}
