// bash and zsh completion scripts, written from the CLI11 definition of the command line.
#include "completion.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>
#include <vector>

namespace plughost::cli {

namespace {

struct option_text {
  std::string name;         // --config
  std::string description;  // for zsh
  bool takes_value = false;
  bool file = false;  // completes file names
};

std::vector<option_text> options_of(const CLI::App& cmd) {
  std::vector<option_text> out;
  for (const auto* o : cmd.get_options()) {
    const auto type = o->get_type_name();
    const bool value = o->get_items_expected_max() > 0 && !type.empty();
    const bool file = type == "FILE" || type == "PATH" || type == "FOLDER" || type == "DIR";
    for (const auto& l : o->get_lnames()) {
      out.push_back({"--" + l, o->get_description(), value, file});
    }
    for (const auto& n : o->get_snames())
      out.push_back({"-" + n, o->get_description(), value, file});
  }
  return out;
}

// Text between single quotes in a shell script.
std::string single_quoted(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

// zsh's _arguments: brackets and colons in a description are taken as syntax.
std::string zsh_description(std::string_view text) {
  std::string out;
  for (const char c : text.substr(0, text.find(';'))) {
    if (c == '[' || c == ']') {
      out += '\\';
      out += c;
    } else if (c == ':') {
      out += "\\:";
    } else {
      out += c;
    }
  }
  return single_quoted(out);
}

// The commands a user sees (not the build's hidden man-sections).
std::vector<const CLI::App*> commands_of(const CLI::App& app) {
  std::vector<const CLI::App*> out;
  for (const auto* c : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (!c->get_group().empty()) out.push_back(c);
  }
  return out;
}

// The words a command's positional argument takes, where they are a fixed set.
std::string positional_choices(const CLI::App& cmd) {
  return cmd.get_name() == "completion" ? "bash zsh" : "";
}

std::string bash_script(const CLI::App& app) {
  std::string names;
  std::string cases;
  std::set<std::string> file_options, value_options;
  for (const auto* c : commands_of(app)) {
    names += c->get_name() + " ";
    std::string words = positional_choices(*c);
    for (const auto& o : options_of(*c)) {
      words += (words.empty() ? "" : " ") + o.name;
      if (o.file) {
        file_options.insert(o.name);
      } else if (o.takes_value) {
        value_options.insert(o.name);
      }
    }
    cases += fmt::format("    {}) words='{}' ;;\n", c->get_name(), words);
  }
  return fmt::format(
      "# bash completion for plughost (made by `plughost completion bash`).\n"
      "_plughost() {{\n"
      "  local cur=\"${{COMP_WORDS[COMP_CWORD]}}\" prev=\"${{COMP_WORDS[COMP_CWORD-1]}}\"\n"
      "  local command=\"\" words i\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    case \"${{COMP_WORDS[i]}}\" in -*) ;; *) command=\"${{COMP_WORDS[i]}}\"; break ;; esac\n"
      "  done\n"
      "  case \"$prev\" in\n"
      "    {}) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
      "    {}) COMPREPLY=(); return ;;  # a value of the user's\n"
      "  esac\n"
      "  case \"$command\" in\n"
      "    '') words='{}help --help --version' ;;\n"
      "    help) words='{}' ;;\n"
      "{}"
      "    *) return ;;\n"
      "  esac\n"
      "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
      "}}\n"
      "complete -o default -F _plughost plughost\n",
      fmt::join(file_options, "|"), fmt::join(value_options, "|"), names, names, cases);
}

std::string zsh_script(const CLI::App& app) {
  std::string described;
  std::string cases;
  for (const auto* c : commands_of(app)) {
    described += fmt::format("    '{}:{}'\n", c->get_name(), zsh_description(c->get_description()));
    std::string args;
    for (const auto& o : options_of(*c)) {
      args += fmt::format(" \\\n        '{}[{}]{}'", o.name, zsh_description(o.description),
                          !o.takes_value ? ""
                          : o.file       ? ":file:_files"
                                         : ":value: ");
    }
    const auto choices = positional_choices(*c);
    cases += fmt::format("    {})\n      _arguments{} \\\n        '{}' ;;\n", c->get_name(), args,
                         choices.empty() ? "*:argument:_files" : "1:argument:(" + choices + ")");
  }
  return fmt::format(
      "#compdef plughost\n"
      "# zsh completion for plughost (made by `plughost completion zsh`).\n"
      "_plughost() {{\n"
      "  local -a commands\n"
      "  commands=(\n{}    'help:show a command'\\''s options'\n  )\n"
      "  if (( CURRENT == 2 )); then\n"
      "    _describe -t commands 'plughost command' commands\n"
      "    return\n"
      "  fi\n"
      "  local command=$words[2]\n"
      "  shift words\n"
      "  (( CURRENT-- ))\n"
      "  case $command in\n"
      "{}"
      "    help) _describe -t commands 'plughost command' commands ;;\n"
      "  esac\n"
      "}}\n"
      "_plughost \"$@\"\n",
      described, cases);
}

// Text for roff: backslashes and leading dots or quotes would be taken as requests.
std::string roff(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
  }
  if (!out.empty() && (out.front() == '.' || out.front() == '\'')) out.insert(0, "\\&");
  return out;
}

}  // namespace

std::string man_sections(const CLI::App& app) {
  std::string out = "[COMMANDS]\n";
  for (const auto* c : commands_of(app)) {
    if (c->get_group().empty()) continue;  // hidden
    out += fmt::format(".SS \"plughost {}\"\n{}\n", c->get_name(), roff(c->get_description()));
    for (const auto* o : c->get_options()) {
      if (o->get_lnames().empty() && o->get_snames().empty() && o->get_name().empty()) continue;
      std::vector<std::string> names;
      for (const auto& s : o->get_snames()) names.push_back("\\fB\\-" + s + "\\fR");
      for (const auto& l : o->get_lnames()) names.push_back("\\fB\\-\\-" + roff(l) + "\\fR");
      if (names.empty()) names.push_back("\\fI" + roff(o->get_type_name()) + "\\fR");
      std::string head = fmt::format("{}", fmt::join(names, ", "));
      if (o->get_type_size() != 0 && o->nonpositional()) {
        head += " \\fI" + roff(o->get_type_name()) + "\\fR";
      }
      out += fmt::format(".TP\n{}\n{}\n", head, roff(o->get_description()));
    }
    const auto footer = c->get_footer();
    if (const auto at = footer.find("Example: "); at != std::string::npos) {
      out += fmt::format(".PP\nExample:\n.RS\n.nf\n{}\n.fi\n.RE\n",
                         roff(footer.substr(at + 9, footer.find('\n', at) - at - 9)));
    }
  }
  return out;
}

std::string completion_script(const CLI::App& app, std::string_view shell) {
  return shell == "zsh" ? zsh_script(app) : bash_script(app);
}

void add_man_sections_command(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("man-sections", "the man page's COMMANDS section (the build's)");
  cmd->group("");  // not shown in --help
  cmd->callback([&app, &run] {
    run = [&app] {
      fmt::print("{}", man_sections(app));
      return 0;
    };
  });
}

void add_completion_command(CLI::App& app, std::function<int()>& run) {
  static std::string shell;
  auto* cmd = app.add_subcommand("completion", "print the bash or zsh completion script");
  cmd->add_option("shell", shell, "bash or zsh")
      ->required()
      ->type_name("SHELL")
      ->check(CLI::IsMember({"bash", "zsh"}));
  cmd->footer(
      "\nExample: plughost completion bash > /etc/bash_completion.d/plughost (the Debian "
      "package installs both)");
  cmd->callback([&app, &run] {
    run = [&app] {
      fmt::print("{}", completion_script(app, shell));
      return 0;
    };
  });
}

}  // namespace plughost::cli
