// The HTTP API's backend over the engine: parses and checks schedule bodies
// and writes long answers on the I/O threads, and does every engine
// operation on the engine strand in hops short enough that dispatch and
// other requests go on between them.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "gridgate/config/site_config.hpp"
#include "gridgate/engine/dispatch_engine.hpp"
#include "gridgate/gateway/adapter_registry.hpp"
#include "gridgate/http/api_backend.hpp"
#include "gridgate/http/metrics.hpp"

namespace gridgate::gateway {

using EngineStrand = boost::asio::strand<boost::asio::io_context::executor_type>;

/// Thread-safe: every call may come from any HTTP session thread.
class EngineApi final : public http::ApiBackend {
  public:
    struct Parts {
        EngineStrand& strand;
        engine::DispatchEngine& engine;
        const config::SiteConfig& site;
        const AdapterRegistry& registry;
        http::Metrics& metrics;
        std::function<void()> on_new_commands;  // re-arms the dispatch timer (on the strand)
        /// Commands a schedule makes per strand hop (see kSchedulePieceCommands).
        std::size_t schedule_piece_commands = kSchedulePieceCommands;
    };

    explicit EngineApi(Parts parts) : p_(std::move(parts)) {
        for (const auto& asset : p_.site.assets) known_assets_.insert(asset.id);
    }

    void post_schedule(http::ScheduleFormat format, std::string body,
                       std::shared_ptr<http::RequestClaim> claim,
                       std::function<void(http::ApiResponse)> done) override;
    void list_commands(http::CommandFilter filter,
                       std::function<void(http::ApiResponse)> done) override;
    void get_command(sdk::CommandId id, std::function<void(http::ApiResponse)> done) override;
    void list_assets(std::function<void(http::ApiResponse)> done) override;
    void health(std::function<void(bool alive)> done) override;
    void metrics(std::function<void(std::string prometheus_text)> done) override;
    /// When an adapter's execute() has held the strand for `at_least`: its
    /// command, and "adapter 'x' (plugin p) has been in execute() of cmd_...
    /// for 8.0 s"; nullopt otherwise. Read once, so the two agree.
    struct Stall {
        sdk::CommandId command_id;
        std::string text;
    };
    std::optional<Stall> stall(std::chrono::milliseconds at_least) const;
    std::string stall() const override {
        auto s = stall(std::chrono::milliseconds(100));
        return s ? std::move(s->text) : std::string();
    }

    /// On the strand: the gateway is stopping. The schedule being applied
    /// is finished and answered; those waiting behind it, and any that
    /// come later, are answered 503 and never applied.
    void stop();
    /// On the strand: a schedule is being applied, piece by piece.
    bool applying() const noexcept { return applying_ != nullptr; }

    /// A piece of a schedule applied in one strand hop: ~3 ms of the strand
    /// at the engine's ~150 ns per command (bench-engine ScheduleInPieces).
    static constexpr std::size_t kSchedulePieceCommands = 20000;

    /// A page of GET /api/v1/commands read in one strand hop.
    static constexpr std::size_t kListPageCommands = 1000;
    static constexpr std::size_t kListPageVisits = 50000;

  private:
    struct Listing;
    void read_page(std::shared_ptr<Listing> listing);
    struct Submission;
    void start_next_schedule();
    void apply_schedule_piece();
    void refuse_stopping(std::shared_ptr<Submission> submission);

    Parts p_;
    // The site's asset ids: a schedule for 10,000 chargers checks every
    // column, which a scan of the site's list would make quadratic.
    std::unordered_set<std::string_view> known_assets_;
    // On the strand: schedules are applied one at a time, in the order they
    // reach the strand, so two never interleave.
    std::deque<std::shared_ptr<Submission>> waiting_;
    std::shared_ptr<Submission> applying_;
    bool stopping_ = false;
};

}  // namespace gridgate::gateway
