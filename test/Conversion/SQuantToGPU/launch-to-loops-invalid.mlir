// RUN: squant-opt %s --split-input-file --squant-gpu-launch-to-loops -verify-diagnostics

module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @nested(%c: i1) kernel {
      scf.if %c {
        // expected-error @+1 {{squant-gpu-launch-to-loops: barriers and shuffles must be at the top level of the kernel body}}
        gpu.barrier
      }
      gpu.return
    }
  }
  func.func @host(%c: i1) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @k::@nested blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%c : i1)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @narrow(%v: f32) kernel {
      %o = arith.constant 1 : i32
      %w = arith.constant 16 : i32
      // expected-error @+1 {{squant-gpu-launch-to-loops: only shuffles of width 32 are supported}}
      %r, %ok = gpu.shuffle xor %v, %o, %w : f32
      gpu.return
    }
  }
  func.func @host(%v: f32) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @k::@narrow blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%v : f32)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @k {
    // expected-error @+1 {{squant-gpu-launch-to-loops: private memory attributions are not supported}}
    gpu.func @private() private(%p : memref<4xf32, #gpu.address_space<private>>) kernel {
      gpu.return
    }
  }
  func.func @host() {
    %c1 = arith.constant 1 : index
    gpu.launch_func @k::@private blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @reduce(%v: f32) kernel {
      // expected-error @+1 {{squant-gpu-launch-to-loops: unsupported op in a kernel}}
      %r = gpu.subgroup_reduce add %v : (f32) -> f32
      gpu.return
    }
  }
  func.func @host(%v: f32) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @k::@reduce blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%v : f32)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @k {
    gpu.func @cross(%m: memref<4xf32>) kernel {
      %c0 = arith.constant 0 : index
      // expected-error @+1 {{squant-gpu-launch-to-loops: cannot keep a value of type 'memref<2xf32, strided<[1]>>' per thread across a barrier or shuffle}}
      %s = memref.subview %m[0] [2] [1] : memref<4xf32> to memref<2xf32, strided<[1]>>
      gpu.barrier
      %x = memref.load %s[%c0] : memref<2xf32, strided<[1]>>
      gpu.return
    }
  }
  func.func @host(%m: memref<4xf32>) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @k::@cross blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<4xf32>)
    return
  }
}
