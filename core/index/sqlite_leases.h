#pragma once
// Scoped use of the index's connections (private to core/index/): the writer under its mutex, or a
// reader borrowed from the pool. Both reset every statement on release, so no
// stepped-but-unfinished statement keeps a read transaction (and an old snapshot of the index)
// open.

#include <memory>
#include <mutex>

#include "index/sqlite_index.h"
#include "index/sqlite.h"

namespace ossa::index {

// Holds the writer connection; on release no statement is left holding a snapshot.
class WriterLock {
 public:
  WriterLock(std::mutex& mutex, sql::Database& db) : lock_(mutex), db_(db) {}
  ~WriterLock() { db_.reset_all(); }

 private:
  std::lock_guard<std::mutex> lock_;
  sql::Database& db_;
};

// Commits made while it lives are not flushed by SQLite (synchronous=NORMAL: the WAL keeps their
// order and the index its integrity; they become durable with the next flush of the file system:
// the ingest pipeline's after each batch, the next FULL commit, or a checkpoint). For writes whose
// callers redo them after a crash anyway: a batch the pipeline flushes itself, job bookkeeping,
// delivery positions. Construct after the WriterLock and before the Transaction.
class UnflushedCommits {
 public:
  explicit UnflushedCommits(sql::Database& db) : db_(db) { db_.exec("PRAGMA synchronous=NORMAL"); }
  ~UnflushedCommits() {
    try {
      db_.exec("PRAGMA synchronous=FULL");  // every other write is durable when its call returns
    } catch (...) {  // cannot fail outside a transaction; never throw from a destructor
    }
  }
  UnflushedCommits(const UnflushedCommits&) = delete;
  UnflushedCommits& operator=(const UnflushedCommits&) = delete;

 private:
  sql::Database& db_;
};

// A read connection borrowed from the pool for the duration of one query.
class SqliteIndex::ReaderLease {
 public:
  explicit ReaderLease(SqliteIndex& index) : index_(index), db_(index.acquire_reader()) {}
  ~ReaderLease() {
    db_->reset_all();
    index_.release_reader(std::move(db_));
  }
  sql::Database& operator*() { return *db_; }
  sql::Database* operator->() { return db_.get(); }

 private:
  SqliteIndex& index_;
  std::unique_ptr<sql::Database> db_;
};

}  // namespace ossa::index
