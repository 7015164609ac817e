// @ts-check
import effect from "@effect/eslint-plugin"
import js from "@eslint/js"
import tseslint from "typescript-eslint"

export default tseslint.config(
  {
    ignores: ["**/dist/**", "**/build/**", "**/node_modules/**", "**/*.d.ts"]
  },
  js.configs.recommended,
  {
    // Plain Node scripts (scripts/*.mjs).
    files: ["**/*.mjs"],
    languageOptions: { globals: { console: "readonly", process: "readonly" } }
  },
  ...tseslint.configs.strict,
  {
    files: ["**/*.ts"],
    plugins: { "@effect": effect },
    languageOptions: {
      parser: tseslint.parser,
      ecmaVersion: 2022,
      sourceType: "module"
    },
    rules: {
      // The formatter: dprint with the settings of the Effect repository.
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-namespace": "off",
      // `Effect<void>`, `Deferred<void>`: void is an ordinary type argument in Effect code.
      "@typescript-eslint/no-invalid-void-type": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/array-type": ["error", { default: "generic", readonly: "generic" }],
      "no-restricted-syntax": ["error", {
        selector: "CallExpression[callee.name='setTimeout']",
        message: "Use Effect's Clock / Effect.sleep so TestClock controls the delay."
      }, {
        selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
        message: "Read time through Effect's Clock."
      }]
    }
  },
  {
    files: ["**/test/**/*.ts", "**/bench/**/*.ts"],
    rules: {
      // Tests index arrays they have just checked.
      "@typescript-eslint/no-non-null-assertion": "off"
    }
  },
  {
    files: ["packages/*/src/**/*.ts"],
    rules: {
      // Inside a package, import effect's modules, never its barrel.
      "@effect/no-import-from-barrel-package": ["error", { packageNames: ["effect"] }]
    }
  }
)
