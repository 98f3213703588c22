// cairn-reader-holder: takes reader slots of a journal and holds them until
// killed, as a process that dies while reading leaves them behind.
//
// Usage: cairn-reader-holder DIR COUNT
//
// Opens the LMDB environment of the journal in DIR, begins COUNT read
// transactions (each takes a slot of the reader table: the environment is
// opened with MDB_NOTLS), prints `ready`, and waits. The journal test
// kills it with SIGKILL, so that its slots stay taken by a dead process.

#include <lmdb.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: cairn-reader-holder DIR COUNT\n");
    return 2;
  }
  auto count = std::atoi(argv[2]);
  MDB_env* env = nullptr;
  if (mdb_env_create(&env) != MDB_SUCCESS
      || mdb_env_set_maxdbs(env, 16) != MDB_SUCCESS
      || mdb_env_open(env, argv[1], MDB_NOTLS | MDB_RDONLY, 0644)
           != MDB_SUCCESS) {
    std::printf("error: cannot open %s\n", argv[1]);
    return 1;
  }
  std::vector<MDB_txn*> readers;
  for (int i = 0; i < count; ++i) {
    MDB_txn* t = nullptr;
    if (auto rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &t)) {
      std::printf("error: reader %d: %s\n", i, mdb_strerror(rc));
      return 1;
    }
    readers.push_back(t);
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;)
    pause();
}
