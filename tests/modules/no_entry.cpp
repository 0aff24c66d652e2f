// A shared object that is not a plughost module: it exports a function, but no descriptor.
extern "C" __attribute__((visibility("default"))) int not_a_plughost_module() {
  return 42;
}
