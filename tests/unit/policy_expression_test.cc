// The `when` language: parsing, type checking and evaluation.
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "policy/expression.h"

namespace countersign::policy {
namespace {

Action sample_action() {
  Action action;
  action.id = "act_1";
  action.door = "postgres";
  action.target = "prod";
  action.verb = "sql:UPDATE";
  action.client_address = "10.0.0.7";
  action.reason = "fix ticket 42";
  action.actor.subject = "agent:ci-bot";
  action.actor.issuer = "api-key";
  action.actor.kind = IdentityKind::agent;
  action.actor.groups = {"ci", "deployers"};
  action.actor.on_behalf_of = "alice@example.com";
  action.params = boost::json::parse(R"({
    "has_where": false,
    "tables": ["orders", "customers"],
    "rows": 120,
    "ratio": 0.25,
    "big": 3.0,
    "name": "héllo",
    "nested": {"a": {"b": "deep"}, "n": null},
    "empty": [],
    "path": "/srv/data/file.txt"
  })");
  return action;
}

EvaluationResult evaluate(std::string_view text, const Action& action = sample_action()) {
  auto expression = Expression::compile(text);
  EXPECT_TRUE(expression.has_value())
      << text << ": " << (expression ? "" : expression.error().message);
  if (!expression) return EvaluationResult{};
  return expression->evaluate(action);
}

::testing::AssertionResult is_true(std::string_view text) {
  auto result = evaluate(text);
  if (result.errored) return ::testing::AssertionFailure() << text << " errored: " << result.error;
  if (!result.value) return ::testing::AssertionFailure() << text << " is false";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_false(std::string_view text) {
  auto result = evaluate(text);
  if (result.errored) return ::testing::AssertionFailure() << text << " errored: " << result.error;
  if (result.value) return ::testing::AssertionFailure() << text << " is true";
  return ::testing::AssertionSuccess();
}

// Evaluates to an error whose message contains `fragment`.
::testing::AssertionResult errors(std::string_view text, std::string_view fragment) {
  auto result = evaluate(text);
  if (!result.errored)
    return ::testing::AssertionFailure() << text << " did not error (value " << result.value << ")";
  if (result.error.find(fragment) == std::string::npos)
    return ::testing::AssertionFailure()
           << text << " error '" << result.error << "' lacks '" << fragment << "'";
  return ::testing::AssertionSuccess();
}

ExpressionError compile_error(std::string_view text) {
  auto expression = Expression::compile(text);
  EXPECT_FALSE(expression.has_value()) << text << " compiled";
  return expression ? ExpressionError{} : expression.error();
}

// ------------------------------------------------------------- literals

TEST(ExpressionLiterals, Numbers) {
  EXPECT_TRUE(is_true("1 + 2 == 3"));
  EXPECT_TRUE(is_true("0x10 == 16"));
  EXPECT_TRUE(is_true("1.5 + 1.5 == 3.0"));
  EXPECT_TRUE(is_true("1e3 == 1000.0"));
  EXPECT_TRUE(is_true("2.5e-1 == 0.25"));
  EXPECT_TRUE(is_true("-9223372036854775808 < 0"));
  EXPECT_TRUE(is_true("9223372036854775807 > 0"));
  EXPECT_TRUE(is_true("1 == 1.0"));  // numeric equality across int and double
  EXPECT_TRUE(is_true("2 > 1.5"));
}

TEST(ExpressionLiterals, Strings) {
  EXPECT_TRUE(is_true(R"('a\nb'.size() == 3)"));
  EXPECT_TRUE(is_true(R"("it's" == 'it\'s')"));
  EXPECT_TRUE(is_true(R"('\x41\101\u00e9' == 'AAé')"));
  EXPECT_TRUE(is_true(R"('\U0001F600'.size() == 1)"));
  EXPECT_TRUE(is_true(R"(r'\n'.size() == 2)"));
  EXPECT_TRUE(is_true(R"('''a'b''' == "a'b")"));
  EXPECT_TRUE(is_true(R"('\\' + "\"" == '\\"')"));
}

TEST(ExpressionLiterals, BoolNullListMap) {
  EXPECT_TRUE(is_true("true && !false"));
  EXPECT_TRUE(is_true("null == null"));
  EXPECT_TRUE(is_true("action.params.nested.n == null"));
  EXPECT_TRUE(is_true("[1, 2, 3] == [1, 2, 3]"));
  EXPECT_TRUE(is_true("[1, 2,] != [2, 1]"));
  EXPECT_TRUE(is_true("{'a': 1, 'b': 2}['b'] == 2"));
  EXPECT_TRUE(is_true("{'a': 1}.a == 1"));
  EXPECT_TRUE(is_true("{'a': [1, 2]} == {'a': [1, 2]}"));
  EXPECT_TRUE(is_true("size({}) == 0 && size([]) == 0"));
  EXPECT_TRUE(errors("{'a': 1, 'a': 2}.a == 1", "duplicate key"));
}

// ------------------------------------------------------------- parsing

TEST(ExpressionParser, Precedence) {
  EXPECT_TRUE(is_true("1 + 2 * 3 == 7"));
  EXPECT_TRUE(is_true("(1 + 2) * 3 == 9"));
  EXPECT_TRUE(is_true("10 - 4 - 3 == 3"));  // left associative
  EXPECT_TRUE(is_true("12 / 3 / 2 == 2"));
  EXPECT_TRUE(is_true("7 % 4 * 2 == 6"));
  EXPECT_TRUE(is_true("true || false && false"));  // && binds tighter
  EXPECT_TRUE(is_false("(true || false) && false"));
  EXPECT_TRUE(is_true("!false == true"));  // ! binds tighter than ==
  EXPECT_TRUE(is_true("-2 * -3 == 6"));
  EXPECT_TRUE(is_true("1 < 2 == true"));
  EXPECT_TRUE(is_true("false ? false : true ? true : false"));  // right associative
  EXPECT_TRUE(is_true("1 + 1 in [2, 3]"));                      // in binds looser than +
  EXPECT_TRUE(is_true("--5 == 5"));
  EXPECT_TRUE(is_true("!!true"));
}

TEST(ExpressionParser, CommentsAndWhitespace) { EXPECT_TRUE(is_true("1 ==\n  1 // the same\n")); }

TEST(ExpressionParser, ErrorsCarryOffsets) {
  auto error = compile_error("action.door == 'x' &&");
  EXPECT_EQ(error.offset, 21u);
  EXPECT_NE(error.message.find("unexpected end"), std::string::npos) << error.message;

  error = compile_error("action.door = 'x'");
  EXPECT_EQ(error.offset, 12u);
  EXPECT_NE(error.message.find("'=='"), std::string::npos) << error.message;

  error = compile_error("(1 + 2");
  EXPECT_EQ(error.offset, 6u);
  EXPECT_NE(error.message.find("expected ')'"), std::string::npos) << error.message;

  error = compile_error("'abc");
  EXPECT_EQ(error.offset, 0u);
  EXPECT_NE(error.message.find("unterminated"), std::string::npos);

  error = compile_error("1 2");
  EXPECT_EQ(error.offset, 2u);

  error = compile_error(R"('\q' == 'q')");
  EXPECT_EQ(error.offset, 1u);
  EXPECT_NE(error.message.find("escape"), std::string::npos);

  error = compile_error("9223372036854775808 > 0");
  EXPECT_NE(error.message.find("out of range"), std::string::npos);

  error = compile_error("1u == 1");
  EXPECT_NE(error.message.find("unsigned"), std::string::npos);

  error = compile_error("action.");
  EXPECT_EQ(error.offset, 7u);
  EXPECT_NE(error.message.find("field name"), std::string::npos);
}

TEST(ExpressionParser, DeepNestingIsAnErrorNotACrash) {
  std::string deep(200, '(');
  deep += "true";
  deep += std::string(200, ')');
  EXPECT_NE(compile_error(deep).message.find("nests too deeply"), std::string::npos);
  std::string nots(500, '!');
  nots += "true";
  EXPECT_NE(compile_error(nots).message.find("too deeply"), std::string::npos);
  std::string sum = "1";
  for (int i = 0; i < 3000; ++i) sum += " + 1";
  EXPECT_NE(compile_error(sum + " == 0").message.find("too"), std::string::npos);
}

// ------------------------------------------------------------- type checking

TEST(ExpressionChecker, UnknownNames) {
  auto error = compile_error("request.door == 'x'");
  EXPECT_EQ(error.offset, 0u);
  EXPECT_NE(error.message.find("undeclared reference to 'request'"), std::string::npos);

  error = compile_error("action.doors == 'x'");
  EXPECT_EQ(error.offset, 7u);
  EXPECT_NE(error.message.find("action has no field 'doors'"), std::string::npos);

  error = compile_error("action.actor.name == 'x'");
  EXPECT_EQ(error.offset, 13u);
  EXPECT_NE(error.message.find("actor has no field 'name'"), std::string::npos);

  error = compile_error("frobnicate(action.door)");
  EXPECT_NE(error.message.find("undeclared function 'frobnicate'"), std::string::npos);

  error = compile_error("action.door.lower() == 'x'");
  EXPECT_NE(error.message.find("unknown method 'lower'"), std::string::npos);
}

TEST(ExpressionChecker, IllTypedOperations) {
  auto error = compile_error("action.door + 1 == 2");
  EXPECT_EQ(error.offset, 12u);
  EXPECT_NE(error.message.find("no operator '+' for string and int"), std::string::npos)
      << error.message;

  error = compile_error("size(1) == 1");
  EXPECT_NE(error.message.find("size() does not apply to int"), std::string::npos);

  error = compile_error("!action.door");
  EXPECT_EQ(error.offset, 0u);
  EXPECT_NE(error.message.find("'!' needs bool"), std::string::npos);

  EXPECT_NE(compile_error("action.door == 1").message.find("no operator '=='"), std::string::npos);
  EXPECT_NE(compile_error("action.door < 1").message.find("no operator '<'"), std::string::npos);
  EXPECT_NE(compile_error("1 + 1.0 == 2.0").message.find("no operator '+'"), std::string::npos);
  EXPECT_NE(compile_error("1.5 % 2.0 == 1.0").message.find("no operator '%'"), std::string::npos);
  EXPECT_NE(compile_error("action.door && true").message.find("'&&'"), std::string::npos);
  EXPECT_NE(compile_error("-action.door == 'x'").message.find("unary '-'"), std::string::npos);
  EXPECT_NE(compile_error("action.door[0] == 'p'").message.find("cannot be indexed"),
            std::string::npos);
  EXPECT_NE(compile_error("action.actor.groups['x'] == 'y'").message.find("list index"),
            std::string::npos);
  EXPECT_NE(compile_error("1 in 2").message.find("'in' needs a list or map"), std::string::npos);
  EXPECT_NE(compile_error("1 in action.actor.groups").message.find("'in' compares"),
            std::string::npos);
  EXPECT_NE(compile_error("action.door.startsWith(1)").message.find("needs strings"),
            std::string::npos);
  EXPECT_NE(compile_error("action.door.size == 1").message.find("no field"), std::string::npos);
  EXPECT_NE(compile_error("(1 ? true : false)").message.find("condition must be a bool"),
            std::string::npos);
}

TEST(ExpressionChecker, Arity) {
  EXPECT_NE(compile_error("size(action.door, 1) == 1").message.find("takes 1 argument, got 2"),
            std::string::npos);
  EXPECT_NE(compile_error("action.door.size(1) == 1").message.find("takes 0 arguments"),
            std::string::npos);
  EXPECT_NE(compile_error("action.door.startsWith()").message.find("takes 1 argument, got 0"),
            std::string::npos);
  EXPECT_NE(compile_error("action.actor.groups.exists(g)").message.find("takes 2 arguments"),
            std::string::npos);
  EXPECT_NE(compile_error("has(action.door, action.verb)").message.find("has() takes 1"),
            std::string::npos);
}

TEST(ExpressionChecker, ResultMustBeBool) {
  auto error = compile_error("action.door");
  EXPECT_NE(error.message.find("must be a bool, but it is string"), std::string::npos);
  EXPECT_NE(compile_error("1 + 2").message.find("int"), std::string::npos);
  EXPECT_NE(compile_error("action.actor.groups").message.find("list(string)"), std::string::npos);
  // Dynamic values are only known at run time.
  EXPECT_TRUE(Expression::compile("action.params.has_where").has_value());
}

TEST(ExpressionChecker, MacroAndHasShapes) {
  EXPECT_NE(compile_error("has(action)").message.find("field selection"), std::string::npos);
  EXPECT_NE(compile_error("has(action.nope)").message.find("has(): action has no field"),
            std::string::npos);
  EXPECT_NE(compile_error("[1].exists(1, true)").message.find("variable name"), std::string::npos);
  EXPECT_NE(compile_error("[1].exists(action, true)").message.find("cannot be used"),
            std::string::npos);
  EXPECT_NE(compile_error("[1].all(x, x + 1)").message.find("predicate must be a bool"),
            std::string::npos);
  EXPECT_NE(compile_error("action.door.exists(x, true)").message.find("needs a list or map"),
            std::string::npos);
  EXPECT_NE(compile_error("[1].exists(x, y == 1)").message.find("undeclared reference to 'y'"),
            std::string::npos);
  // The macro variable is out of scope after the macro.
  EXPECT_NE(compile_error("[1].exists(x, true) && x == 1").message.find("'x'"), std::string::npos);
}

TEST(ExpressionChecker, RegexLiteralCheckedAtLoad) {
  auto error = compile_error("action.door.matches('a(b')");
  EXPECT_EQ(error.offset, 20u);  // points at the pattern
  EXPECT_NE(error.message.find("missing ')'"), std::string::npos) << error.message;
}

// ------------------------------------------------------------- evaluation

TEST(ExpressionEvaluation, ActionFields) {
  EXPECT_TRUE(is_true("action.door == 'postgres'"));
  EXPECT_TRUE(is_true("action.target == 'prod' && action.verb == 'sql:UPDATE'"));
  EXPECT_TRUE(is_true("action.reason == 'fix ticket 42'"));
  EXPECT_TRUE(is_true("action.client_address.startsWith('10.')"));
  EXPECT_TRUE(is_true("action.actor.subject == 'agent:ci-bot'"));
  EXPECT_TRUE(is_true("action.actor.issuer == 'api-key'"));
  EXPECT_TRUE(is_true("action.actor.kind == 'agent'"));
  EXPECT_TRUE(is_true("'ci' in action.actor.groups"));
  EXPECT_TRUE(is_false("'dba' in action.actor.groups"));
  EXPECT_TRUE(is_true("action.actor.email == '' && !has(action.actor.email)"));
  EXPECT_TRUE(is_true("action.actor.on_behalf_of == 'alice@example.com'"));
  EXPECT_TRUE(is_true("has(action.actor.on_behalf_of) && has(action.reason)"));
}

TEST(ExpressionEvaluation, Params) {
  EXPECT_TRUE(is_true("!action.params.has_where"));
  EXPECT_TRUE(is_true("action.params.rows > 100"));
  EXPECT_TRUE(is_true("action.params.rows == 120.0"));
  EXPECT_TRUE(is_true("action.params.big == 3 && action.params.big + 1 == 4"));
  EXPECT_TRUE(is_true("action.params.ratio * 4.0 == 1.0"));
  EXPECT_TRUE(is_true("action.params['tables'][1] == 'customers'"));
  EXPECT_TRUE(is_true("action.params.nested.a.b == 'deep'"));
  EXPECT_TRUE(is_true("action.params.nested['a']['b'].endsWith('ep')"));
  EXPECT_TRUE(is_true("'rows' in action.params"));
  EXPECT_TRUE(is_true("size(action.params.tables) == 2 && action.params.empty.size() == 0"));
  EXPECT_TRUE(is_true("has(action.params.rows) && !has(action.params.missing)"));
  EXPECT_TRUE(is_true("has(action.params.nested.a.b)"));
  EXPECT_TRUE(is_true("action.params.tables + ['x'] == ['orders', 'customers', 'x']"));
}

TEST(ExpressionEvaluation, Arithmetic) {
  EXPECT_TRUE(is_true("7 / 2 == 3 && -7 / 2 == -3 && 7 % 3 == 1 && -7 % 3 == -1"));
  EXPECT_TRUE(is_true("7.0 / 2.0 == 3.5"));
  EXPECT_TRUE(is_true("'ab' + 'cd' == 'abcd'"));
  EXPECT_TRUE(is_true("[1] + [2, 3] == [1, 2, 3]"));
  EXPECT_TRUE(is_true("-(1 - 3) == 2"));
  EXPECT_TRUE(errors("action.params.rows / 0 == 1", "division by zero"));
  EXPECT_TRUE(errors("action.params.rows % 0 == 1", "modulus by zero"));
  EXPECT_TRUE(errors("action.params.ratio / 0.0 == 1.0", "division by zero"));
  EXPECT_TRUE(errors("9223372036854775807 + action.params.rows > 0", "overflow"));
  EXPECT_TRUE(errors("-9223372036854775808 / -1 == 0", "overflow"));
  EXPECT_TRUE(errors("action.params.rows + 0.5 > 0.0", "no operator '+' for int and double"));
}

TEST(ExpressionEvaluation, Comparisons) {
  EXPECT_TRUE(is_true("'abc' < 'abd' && 'b' > 'abc' && 'a' <= 'a' && 'b' >= 'a'"));
  EXPECT_TRUE(is_true("false < true"));
  EXPECT_TRUE(is_true("1 != 2 && 1.5 >= 1 && 2 <= 2.0"));
  EXPECT_TRUE(is_true("action.params.name != 1"));  // different types are unequal
  EXPECT_TRUE(errors("action.params.name < 1", "cannot compare string with int"));
}

TEST(ExpressionEvaluation, StringFunctions) {
  EXPECT_TRUE(is_true("action.params.path.startsWith('/srv/')"));
  EXPECT_TRUE(is_true("action.params.path.endsWith('.txt')"));
  EXPECT_TRUE(is_true("action.params.path.contains('data')"));
  EXPECT_TRUE(is_false("action.params.path.contains('etc')"));
  EXPECT_TRUE(is_true("action.params.name.size() == 5"));  // code points, not bytes
  EXPECT_TRUE(is_true("size('héllo') == 5"));
  EXPECT_TRUE(is_true("action.params.path.matches('^/srv/[a-z]+/.*\\\\.txt$')"));
  EXPECT_TRUE(is_true("matches(action.verb, 'sql:(UPDATE|DELETE)')"));
  EXPECT_TRUE(is_false("action.verb.matches('^DELETE')"));
  // A pattern only known at run time is compiled then, errors included.
  EXPECT_TRUE(errors("action.verb.matches(action.params.path + '(')", "missing ')'"));
  EXPECT_TRUE(errors("action.params.rows.startsWith('1')", "startsWith() applied to int"));
}

TEST(ExpressionEvaluation, InOperator) {
  EXPECT_TRUE(is_true("action.verb in ['sql:UPDATE', 'sql:DELETE']"));
  EXPECT_TRUE(is_false("action.verb in ['sql:SELECT']"));
  EXPECT_TRUE(is_true("'a' in {'a': 1}"));
  EXPECT_TRUE(is_true("2 in [1.0, 2.0]"));
  EXPECT_TRUE(errors("'x' in action.params.rows", "'in' applied to int"));
}

TEST(ExpressionEvaluation, Macros) {
  EXPECT_TRUE(is_true("action.params.tables.exists(t, t == 'customers')"));
  EXPECT_TRUE(is_false("action.params.tables.exists(t, t == 'users')"));
  EXPECT_TRUE(is_true("action.params.tables.all(t, t.size() > 3)"));
  EXPECT_TRUE(is_false("action.params.tables.all(t, t.startsWith('o'))"));
  EXPECT_TRUE(is_true("action.params.tables.exists_one(t, t.startsWith('c'))"));
  EXPECT_TRUE(is_false("[1, 1].exists_one(x, x == 1)"));
  EXPECT_TRUE(is_true("[1, 2, 3, 4].filter(x, x % 2 == 0) == [2, 4]"));
  EXPECT_TRUE(is_true("[1, 2, 3].map(x, x * 10) == [10, 20, 30]"));
  EXPECT_TRUE(is_true("action.params.empty.all(x, false)"));
  EXPECT_TRUE(is_false("action.params.empty.exists(x, true)"));
  EXPECT_TRUE(is_true("action.params.nested.exists(k, k == 'n')"));      // maps iterate keys
  EXPECT_TRUE(is_true("[[1, 2], [3]].exists(l, l.exists(x, x == 3))"));  // nested scopes
  EXPECT_TRUE(is_true("[1, 2].exists(x, [3, 4].exists(y, x + y == 6))"));
}

TEST(ExpressionEvaluation, ErrorsAreAbsorbedOnlyWhenDecided) {
  EXPECT_TRUE(errors("action.params.missing == 1", "no such key: 'missing'"));
  EXPECT_TRUE(errors("action.params.tables[5] == 'x'", "out of range"));
  EXPECT_TRUE(errors("action.params.rows.x == 1", "no field 'x' on a value of type int"));
  EXPECT_TRUE(errors("action.params.rows", "result is int, not bool"));
  // CEL's commutative && and ||: a deciding side wins over an error.
  EXPECT_TRUE(is_false("action.params.missing && false"));
  EXPECT_TRUE(is_false("false && action.params.missing"));
  EXPECT_TRUE(is_true("action.params.missing || true"));
  EXPECT_TRUE(is_true("true || action.params.missing"));
  EXPECT_TRUE(errors("action.params.missing && true", "no such key"));
  EXPECT_TRUE(errors("false || action.params.missing", "no such key"));
  EXPECT_TRUE(errors("action.params.rows || false", "'||' applied to int"));
  EXPECT_TRUE(errors("!action.params.rows", "'!' applied to int"));
  // exists/all absorb an element's error when another element decides.
  EXPECT_TRUE(is_true("[0, 1].exists(x, 10 / x == 10)"));
  EXPECT_TRUE(errors("[0, 2].exists(x, 10 / x == 10)", "division by zero"));
  EXPECT_TRUE(is_false("[0, 1].all(x, 10 / x == 5)"));
  EXPECT_TRUE(errors("[0, 1].exists_one(x, 10 / x == 10)", "division by zero"));
  EXPECT_TRUE(errors("action.params.rows ? true : false", "condition is int"));
  EXPECT_TRUE(is_true("has(action.params.nested.a) ? action.params.nested.a.b == 'deep' : false"));
}

TEST(ExpressionEvaluation, ParamsThatAreNotAnObject) {
  Action action = sample_action();
  action.params = boost::json::value(42);
  auto result = evaluate("action.params == 42", action);
  EXPECT_FALSE(result.errored);
  EXPECT_TRUE(result.value);
  result = evaluate("action.params.x == 1", action);
  EXPECT_TRUE(result.errored);
  action.params = nullptr;
  result = evaluate("has(action.params)", action);
  EXPECT_FALSE(result.errored);
  EXPECT_FALSE(result.value);
}

TEST(ExpressionEvaluation, LargeIntegersFromJson) {
  Action action = sample_action();
  action.params = boost::json::parse(R"({"u": 18446744073709551615, "i": 9007199254740993})");
  EXPECT_TRUE(evaluate("action.params.u > 1.0e19", action).value);
  EXPECT_TRUE(evaluate("action.params.i == 9007199254740993", action).value);
}

// Random token soup must never crash the parser, checker or evaluator; what
// compiles must evaluate to a bool or an error.
TEST(ExpressionRobustness, RandomTokenSoup) {
  const std::vector<std::string> pieces{
      "action", ".",      "params", "rows",    "tables", "door",       "actor",  "groups",
      "(",      ")",      "[",      "]",       "{",      "}",          ",",      ":",
      "?",      "!",      "-",      "+",       "*",      "/",          "%",      "==",
      "<",      ">=",     "&&",     "||",      "in",     "1",          "0",      "2.5",
      "'x'",    "\"a\"",  "true",   "null",    "size",   "has",        "exists", "all",
      "map",    "filter", "t",      "matches", "'^a+$'", "startsWith", " "};
  std::mt19937 random(7);
  Action action = sample_action();
  int compiled = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    int length = std::uniform_int_distribution<int>(1, 14)(random);
    for (int i = 0; i < length; ++i)
      text += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(random)];
    auto expression = Expression::compile(text);
    if (!expression) {
      EXPECT_LE(expression.error().offset, text.size()) << text;
      continue;
    }
    ++compiled;
    auto result = expression->evaluate(action);
    if (result.errored) {
      EXPECT_FALSE(result.error.empty()) << text;
    }
  }
  EXPECT_GT(compiled, 10);

  // Every prefix and every one-character deletion of a valid expression.
  const std::string valid =
      "!action.params.has_where || action.params.tables.exists(t, t == 'customers') && "
      "size(action.actor.groups) > 0 ? {'a': [1, 2.5]}['a'][0] == 1 : "
      "action.verb.matches('^sql:(UPDATE|DELETE)$')";
  ASSERT_TRUE(Expression::compile(valid).has_value());
  for (std::size_t i = 0; i < valid.size(); ++i) {
    for (const std::string& text : {valid.substr(0, i), valid.substr(0, i) + valid.substr(i + 1)}) {
      auto expression = Expression::compile(text);
      if (expression) expression->evaluate(action);
    }
  }
}

}  // namespace
}  // namespace countersign::policy
