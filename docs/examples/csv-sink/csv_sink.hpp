// Records as CSV (RFC 4180): time,plugin,pid,stream,text — for spreadsheets and quick scripts.
#pragma once

#include <fstream>
#include <plughost/sink.hpp>
#include <string>

namespace example {

class csv_sink : public plughost::sink {
 public:
  /// Appends to `path`; writes the header line first when `header` is set and the file is new.
  /// Throws std::runtime_error when the file cannot be opened.
  csv_sink(const std::string& path, bool header);

  void write(const plughost::record& r) override;
  void flush() override;

 private:
  std::ofstream out_;
};

}  // namespace example
