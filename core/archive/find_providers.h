#pragma once
// C-FIND answered by someone other than the index: the plugin host's find providers (a Modality
// Worklist, a RIS behind C-FIND). The DICOM layer asks through this interface, which the archive
// side owns, so that dicom/ never includes plugin headers (as with ReceivedHook).
//
// Queries and answers are JSON object text keyed by DICOM keyword ("(gggg,eeee)" for private or
// unknown attributes), values as UTF-8 strings, sequences as arrays of objects.

#include <functional>
#include <string>
#include <vector>

namespace ossa::archive {

class FindProviders {
 public:
  virtual ~FindProviders() = default;

  // The C-FIND SOP classes answered on an association to `called_aet`: those of providers
  // registered for that AE title and those registered for any AE title.
  virtual std::vector<std::string> sop_classes_for(const std::string& called_aet) const = 0;
  // Whether a provider registered for exactly this AE title: associations to it are accepted
  // (for its FIND classes and Verification only) even though it is not the server's AE title.
  virtual bool serves_called_aet(const std::string& called_aet) const = 0;
  // Whether a provider answers `sop_class` on an association to `called_aet`.
  virtual bool serves(const std::string& sop_class, const std::string& called_aet) const = 0;

  struct Outcome {
    bool failed = false;   // the provider reported an error (or threw)
    std::string provider;  // the plugin that answered, for log lines
    std::string error;     // what failed, when failed
  };
  // Runs the provider for (sop_class, called_aet) on the calling thread. Every answer it adds is
  // handed to `on_answer` at once (streamed); on_answer returns false to stop the provider (a
  // C-CANCEL, a broken association, an answer that cannot be encoded). The provider that serves
  // the called AE title exactly is preferred to one registered for any AE title.
  virtual Outcome find(const std::string& sop_class, const std::string& called_aet,
                       const std::string& query_json,
                       const std::function<bool(const std::string& answer_json)>& on_answer) = 0;
};

}  // namespace ossa::archive
