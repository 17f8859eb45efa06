#include "archive/archive.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "archive/ingest_pipeline.h"

#include <stdexcept>
#include "dicom/instance_reader.h"
#include "util/log.h"

namespace ossa::archive {
namespace {
constexpr uint16_t kStatusOutOfResources = 0xA700;
constexpr uint16_t kStatusCoercionOfDataElements = 0xB000;
constexpr uint16_t kStatusDoesNotMatchSopClass = 0xA900;

// Why a file left in tmp/ cannot be the instance its row describes ("" when it is).
std::string check_recovered_file(const std::filesystem::path& file, const index::StoredFile& row) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(file, ec);
  if (ec) return "its file cannot be read (" + ec.message() + ")";
  if (size != row.file_size) {
    return "its file has " + std::to_string(size) + " of " + std::to_string(row.file_size) +
           " bytes";
  }
  try {
    const dicom::InstanceFileInfo info = dicom::read_instance_file(file);
    if (info.sop_instance_uid != row.sop_instance_uid)
      return "its file holds another instance (" + info.sop_instance_uid + ")";
  } catch (const std::exception& e) {
    return std::string("its file is not readable DICOM (") + e.what() + ")";
  }
  return "";
}

}  // namespace

Archive::Archive(const ArchiveOptions& options) : options_(options) {
  store_ = std::make_unique<storage::FileStore>(options.storage_root);
  index_ = index::open_index(options.index);
  std::vector<std::filesystem::path> flushed{options.storage_root};
  if (const auto folder = index_->local_folder()) flushed.push_back(*folder);
  durability_ = std::make_unique<storage::FilesystemSync>(flushed);
  // Every Ossa process holds a shared lock on the store while it runs; recovery needs the store to
  // itself, or it would delete another process's files in flight.
  const std::filesystem::path lock_file = options.storage_root / ".ossa.lock";
  lock_fd_ = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (lock_fd_ < 0) {
    throw storage::StorageError("cannot open " + lock_file.string(), errno);
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0) {
    recover();
    recovered_ = true;
  } else {
    log::debug("another Ossa process uses ", options.storage_root.string(),
               "; crash recovery is left to it");
  }
  ::flock(lock_fd_, LOCK_SH);  // downgrade (or wait for the other process's recovery to finish)
  // Only now: recovery deletes tmp/ files the index does not know.
  if (options.prepare_temp_files) store_->start_temp_pool();
  pipeline_ = std::make_unique<IngestPipeline>(*store_, *index_, options.duplicates, *durability_);
}

Archive::~Archive() {
  pipeline_.reset();  // drain pending batches before the index closes
  index_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void Archive::recover() {
  // Start-up cost is proportional to what the last run left unfinished (tmp/ and the journal of
  // replaced files), never to the size of the archive.
  size_t dropped = 0;
  const auto [moved, deleted_temp] =
      store_->recover_temp([&](const std::string& relative, const std::filesystem::path& file) {
        const std::optional<index::StoredFile> row = index_->instance_of_file(relative);
        if (!row) return false;
        // Committed, but was its file flushed? (ingest_pipeline.h: a crash between the commit and
        // the flush can keep the row and lose the file's data; such an instance was never
        // acknowledged.)
        const std::string why = check_recovered_file(file, *row);
        if (why.empty()) return true;
        log::warning("recovery: ", relative, " (", row->sop_instance_uid, ") was indexed but ", why,
                     "; it was never acknowledged, dropping its row");
        index_->delete_entity(index::Level::kInstance, row->sop_instance_uid);
        ++dropped;
        return false;
      });
  std::vector<std::string> resolved;
  size_t deleted_replaced = 0;
  for (const auto& path : index_->pending_files()) {
    if (!index_->is_file_referenced(path)) {
      if (!store_->remove(path)) {
        log::warning("cannot delete replaced file ", path, "; will retry at next start");
        continue;
      }
      ++deleted_replaced;
    }
    resolved.push_back(path);
  }
  index_->remove_pending_files(resolved);
  if (moved || deleted_temp || deleted_replaced || dropped) {
    log::info("recovery: kept ", moved, " indexed files in place, removed ", deleted_temp,
              " incomplete transfers (", dropped, " of them indexed but not flushed) and ",
              deleted_replaced, " replaced files");
  }
}

IngestResult Archive::ingest_received(const std::filesystem::path& temp_file,
                                      const std::string& expected_sop_instance_uid,
                                      const IngestOrigin& origin, IngestStream* stream,
                                      const std::string* file_bytes) {
  return ingest(temp_file, expected_sop_instance_uid, origin, stream, file_bytes);
}

IngestStats Archive::ingest_stats() const {
  return pipeline_->stats();
}

IngestResult Archive::ingest_copy(const std::filesystem::path& source, IngestStream* stream) {
  std::filesystem::path temp;
  try {
    temp = store_->copy_to_temp(source);
  } catch (const storage::StorageError& e) {
    IngestResult result;
    result.dimse_status = kStatusOutOfResources;
    result.message = e.what();
    return result;
  }
  return ingest(temp, "", IngestOrigin{}, stream, nullptr);
}

IngestResult Archive::ingest(const std::filesystem::path& temp_file,
                             const std::string& expected_uid, const IngestOrigin& origin,
                             IngestStream* stream, const std::string* file_bytes) {
  IngestResult result;
  std::filesystem::path file = temp_file;
  bool coerced = false;
  bool handed_over = false;
  try {
    if (options_.min_free_bytes > 0 && store_->free_bytes() < options_.min_free_bytes) {
      throw IngestFailure(kStatusOutOfResources,
                          "disk almost full: " + std::to_string(store_->free_bytes() >> 20) +
                              " MB free, storage.min_free_mb is " +
                              std::to_string(options_.min_free_bytes >> 20));
    }
    dicom::InstanceFileInfo info =
        file_bytes ? dicom::read_instance_bytes(*file_bytes) : dicom::read_instance_file(file);
    result.sop_instance_uid = info.sop_instance_uid;
    if (!expected_uid.empty() && expected_uid != info.sop_instance_uid) {
      throw dicom::InstanceRejected(kStatusDoesNotMatchSopClass,
                                    "SOP Instance UID in the dataset (" + info.sop_instance_uid +
                                        ") differs from the request's (" + expected_uid + ")");
    }
    if (received_hook_) {
      const ReceivedHook::Verdict verdict = received_hook_->on_received(
          file, store_->temp_dir() / (file.filename().string() + ".rewrite"), info.sop_class_uid,
          info.sop_instance_uid, info.record, origin);
      if (verdict.reject_status != 0)
        throw dicom::InstanceRejected(verdict.reject_status, verdict.reason);
      if (verdict.rewritten) {
        info = dicom::read_instance_file(file);  // index what is stored now
        coerced = true;
      }
    }
    info.record.calling_aet = origin.calling_aet;
    info.record.called_aet = origin.called_aet;
    if (!info.has_meta_header) {
      // A bare dataset (some import sources): store it as a proper Part-10 file.
      const std::filesystem::path part10 = store_->new_temp_path();
      dicom::write_as_part10(file, part10);
      store_->discard_temp(file);
      file = part10;
    }
    info.record.file_size = std::filesystem::file_size(file);
    handed_over = true;  // the pipeline consumes the file, whatever happens
    const index::StoreResult stored = pipeline_->commit(info.record, file, stream);
    switch (stored.outcome) {
      case index::StoreOutcome::kStored:
        result.kind = IngestResult::Kind::kStored;
        break;
      case index::StoreOutcome::kReplaced:
        result.kind = IngestResult::Kind::kReplaced;
        break;
      case index::StoreOutcome::kKeptExisting:
        result.kind = IngestResult::Kind::kDuplicateKept;
        break;
    }
    // PS3.4 B.2.3: a stored instance whose attributes were changed answers 0xB000 (Warning,
    // Coercion of Data Elements), so the sender knows the archive's copy differs.
    result.dimse_status = coerced ? kStatusCoercionOfDataElements : 0;
    return result;
  } catch (const dicom::InstanceRejected& e) {
    result.dimse_status = e.dimse_status();
    result.message = e.what();
  } catch (const IngestFailure& e) {
    result.dimse_status = e.dimse_status();
    result.message = e.what();
  } catch (const std::exception& e) {
    result.dimse_status = kStatusOutOfResources;
    result.message = e.what();
  }
  // A file the pipeline took is its business: after a failed flush it may be indexed in tmp/.
  if (!handed_over) store_->discard_temp(file);
  result.kind = IngestResult::Kind::kRejected;
  return result;
}

std::vector<index::InstanceLocation> Archive::instances_for(const index::FindQuery& query) {
  return index_->find_instances(query);
}

index::InstanceLocation Archive::current_location(const index::InstanceLocation& instance) const {
  std::error_code ec;
  if (std::filesystem::exists(store_->absolute(instance.file_path), ec)) return instance;
  std::optional<index::InstanceLocation> now =
      index_->location_of_instance(instance.sop_instance_uid);
  if (now && now->file_path != instance.file_path) return std::move(*now);
  return instance;
}

std::filesystem::path Archive::file_of(const index::InstanceLocation& instance) const {
  return store_->absolute(instance.file_path);
}

size_t Archive::delete_entity(index::Level level, const std::string& key) {
  const std::vector<std::string> files = index_->delete_entity(level, key);
  std::vector<std::string> removed;
  for (const auto& file : files) {
    if (store_->remove(file))
      removed.push_back(file);
    else
      log::warning("cannot delete ", file, " now; it is journalled and goes at the next start");
  }
  index_->remove_pending_files(removed);
  if (!files.empty()) {
    log::info("deleted ", index::to_string(level), " ", key, ": ", files.size(), " instance(s)");
  }
  return files.size();
}

std::vector<Node> Archive::nodes() {
  std::vector<Node> all = options_.nodes;
  for (const auto& r : index_->nodes()) {
    all.push_back({r.name, r.aet, r.host, static_cast<uint16_t>(r.port), r.move_destination,
                   r.query, r.retrieve, r.send});
  }
  return all;
}

std::optional<Node> Archive::node_by_name(const std::string& name_or_aet) {
  const std::vector<Node> all = nodes();
  for (const auto& node : all)
    if (node.name == name_or_aet) return node;
  for (const auto& node : all)
    if (node.aet == name_or_aet) return node;
  return std::nullopt;
}

std::optional<Node> Archive::node_by_aet(const std::string& aet) {
  for (const auto& node : nodes())
    if (node.aet == aet) return node;
  return std::nullopt;
}

void Archive::add_node(const Node& node) {
  for (const auto& configured : options_.nodes) {
    if (configured.name == node.name || configured.aet == node.aet) {
      throw std::invalid_argument("node " + configured.name + " (" + configured.aet +
                                  ") is declared in the configuration file; change it there");
    }
  }
  if (node.name.empty() || node.aet.empty() || node.aet.size() > 16 || node.host.empty() ||
      node.port == 0) {
    throw std::invalid_argument(
        "a node needs a name, an AE title of 1-16 characters, a host and a port");
  }
  try {
    index_->put_node({node.name, node.aet, node.host, node.port, node.move_destination, node.query,
                      node.retrieve, node.send});
  } catch (const index::Error&) {
    throw std::invalid_argument("AE title " + node.aet + " already belongs to another node");
  }
}

bool Archive::remove_node(const std::string& name) {
  return index_->remove_node(name);
}

void Archive::find(const index::FindQuery& query,
                   const std::function<bool(index::FindMatch&&)>& on_match) {
  index_->find(query, on_match);
}

}  // namespace ossa::archive
