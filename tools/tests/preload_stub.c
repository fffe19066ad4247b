/* An empty preload library: lets the tests check what `hakmem run` puts in the
 * environment without depending on the allocator. */
int hakmem_cli_preload_stub(void) { return 0; }
